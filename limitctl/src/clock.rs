//! Wall-clock time and the UTC dates printed on sheets and accepted on the command line.

use anyhow::{bail, Context, Result};

/// Wall-clock Unix seconds (the officer's offline machine).
#[allow(clippy::disallowed_methods)] // the one wall-clock read of limitctl
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `2026-11-23 14:05:00 UTC`.
pub fn format_utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds, or an RFC 3339 UTC time: `2026-11-23T14:05:00Z` (also with a space, or a
/// date alone meaning midnight UTC).
pub fn parse_time(text: &str) -> Result<i64> {
    let t = text.trim();
    if let Ok(unix) = t.parse::<i64>() {
        return Ok(unix);
    }
    let t = t.trim_end_matches('Z').trim_end_matches(" UTC");
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let parts: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| bad(text))?;
    let clock: Vec<i64> = time
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| bad(text))?;
    let (&[y, mo, d], [h, mi, rest @ ..]) = (parts.as_slice(), clock.as_slice()) else {
        bail!(bad(text))
    };
    let s = rest.first().copied().unwrap_or(0);
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || !(0..24).contains(h)
        || !(0..60).contains(mi)
        || !(0..60).contains(&s)
    {
        bail!(bad(text));
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn bad(text: &str) -> String {
    format!("{text:?} is not a time: use Unix seconds or UTC like 2026-11-23T14:05:00Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_dates() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("2000-03-01").unwrap(), 951_868_800);
        assert_eq!(format_utc(951_868_800), "2000-03-01 00:00:00 UTC");
        assert_eq!(
            parse_time("2026-11-23 14:05:07").unwrap(),
            parse_time("2026-11-23T14:05:07Z").unwrap()
        );
        assert_eq!(parse_time(&format_utc(1_795_000_000)).unwrap(), 1_795_000_000);
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
