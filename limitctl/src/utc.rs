//! Times as officers write and read them: RFC 3339 in UTC ("2026-05-01T09:00:00Z") or
//! Unix seconds, and back. Only UTC: a sheet read in another time zone must mean the
//! same instant, and the signer compares against Unix time.

use std::fmt;

/// A time an officer typed could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {input:?}: {reason} (write RFC 3339 in UTC such as 2026-05-01T09:00:00Z, or Unix seconds)"
)]
pub struct InvalidTime {
    pub input: String,
    pub reason: String,
}

fn invalid(input: &str, reason: &str) -> InvalidTime {
    InvalidTime {
        input: input.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date for a day count from 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A Unix time broken into UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    pub fn from_unix(unix: i64) -> UtcTime {
        let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs % 3600 / 60) as u32,
            second: (secs % 60) as u32,
        }
    }

    /// RFC 3339, e.g. `2026-05-01T09:00:00Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// For people: `2026-05-01 09:00:00 UTC`.
impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// `2026-05-01 09:00:00 UTC` for a Unix time.
pub fn format_utc(unix: i64) -> String {
    UtcTime::from_unix(unix).to_string()
}

fn number(input: &str, text: &str, what: &str) -> Result<u32, InvalidTime> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(input, &format!("the {what} is not a number")));
    }
    text.parse()
        .map_err(|_| invalid(input, &format!("the {what} is not a number")))
}

/// Reads RFC 3339 with a `Z` or `+00:00` offset (no fractions), a bare date
/// (`2026-05-01`, its midnight UTC) or plain Unix seconds.
pub fn parse_time(input: &str) -> Result<i64, InvalidTime> {
    let text = input.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| invalid(input, "too large for Unix seconds"));
    }
    let upper = text.to_ascii_uppercase();
    // A bare date means its midnight, UTC.
    let with_time;
    let upper = if upper.len() == 10 && !upper.contains('T') {
        with_time = format!("{upper}T00:00:00Z");
        &with_time
    } else {
        &upper
    };
    let body = if let Some(body) = upper.strip_suffix('Z') {
        body
    } else if let Some(body) = upper.strip_suffix("+00:00") {
        body
    } else if upper
        .split_once('T')
        .is_some_and(|(_, clock)| clock.contains(['+', '-']))
    {
        return Err(invalid(
            input,
            "only UTC is accepted: end with Z (other offsets invite mistakes on the sheet)",
        ));
    } else {
        return Err(invalid(input, "not RFC 3339 in UTC: it must end with Z"));
    };
    let (date, clock) = body
        .split_once('T')
        .ok_or_else(|| invalid(input, "missing the T between date and time"))?;
    let date: Vec<&str> = date.split('-').collect();
    let clock: Vec<&str> = clock.split(':').collect();
    if date.len() != 3 || clock.len() != 3 || date[0].len() != 4 {
        return Err(invalid(input, "expected YYYY-MM-DDTHH:MM:SSZ"));
    }
    if [date[1], date[2], clock[0], clock[1], clock[2]]
        .iter()
        .any(|f| f.len() != 2)
    {
        return Err(invalid(
            input,
            "expected YYYY-MM-DDTHH:MM:SSZ (two digits per field, no fractions)",
        ));
    }
    let year = i64::from(number(input, date[0], "year")?);
    let month = number(input, date[1], "month")?;
    let day = number(input, date[2], "day")?;
    let (hour, minute, second) = (
        number(input, clock[0], "hour")?,
        number(input, clock[1], "minute")?,
        number(input, clock[2], "second")?,
    );
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(invalid(input, "no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(invalid(
            input,
            "no such time of day (leap seconds are not accepted)",
        ));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2000-03-01T00:00:00Z"), Ok(951_868_800));
        assert_eq!(parse_time("2024-02-29T12:34:56Z"), Ok(1_709_210_096));
        assert_eq!(parse_time("2106-02-07T06:28:15Z"), Ok(i64::from(u32::MAX)));
        assert_eq!(parse_time("2024-02-29t12:34:56+00:00"), Ok(1_709_210_096));
        assert_eq!(parse_time(" 1709210096 "), Ok(1_709_210_096));
        assert_eq!(parse_time("2024-02-29"), Ok(1_709_164_800));
        assert_eq!(format_utc(1_709_210_096), "2024-02-29 12:34:56 UTC");
        assert_eq!(UtcTime::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn ambiguous_or_impossible_times_are_refused() {
        for bad in [
            "",
            "tomorrow",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01T10:00:00",
            "2024-01-01T10:00:00+02:00",
            "2024-01-01T10:00:00.5Z",
            "2024-1-01T10:00:00Z",
            "2024-02-30",
            "2024-1-011",
            "2024-01-01 10:00:00Z",
            "-5",
            "+5",
            "2024-01-01T1a:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_time("2024-01-01T10:00:00+02:00")
            .unwrap_err()
            .to_string()
            .contains("only UTC"));
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_agree(unix in 0i64..=253_402_300_799) {
            let text = UtcTime::from_unix(unix).rfc3339();
            prop_assert_eq!(parse_time(&text), Ok(unix));
        }
    }
}
