//! Wall-clock time as a value. Money-deciding code (daily limits, history) takes a
//! `UnixTime` as an argument; only `clock::now` reads the clock.

use std::fmt;

const SECONDS_PER_DAY: i64 = 86_400;

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const fn from_secs(secs: i64) -> Self {
        UnixTime(secs)
    }

    pub const fn secs(self) -> i64 {
        self.0
    }

    /// The number of the UTC day this instant falls in (days since 1970-01-01, earlier
    /// instants negative): how the daily totals of `db::withdrawals` are keyed.
    pub fn utc_day_number(self) -> i64 {
        self.0.div_euclid(SECONDS_PER_DAY)
    }

    /// The UTC day this instant falls in, as `[start, end)` in Unix seconds: daily limits
    /// count what was requested in this window.
    pub fn utc_day(self) -> (UnixTime, UnixTime) {
        let start = self.utc_day_number() * SECONDS_PER_DAY;
        (UnixTime(start), UnixTime(start.saturating_add(SECONDS_PER_DAY)))
    }
}

impl UnixTime {
    /// The last second of the UTC day `YYYY-MM-DD` (a KYC verification "valid until" a
    /// date holds through that whole day).
    pub fn end_of_utc_date(text: &str) -> Option<UnixTime> {
        let mut parts = text.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        if !(1..=12).contains(&m) || d < 1 {
            return None;
        }
        let days = days_from_civil(y, m, d);
        // Refuses 2025-02-30 and the like: the day must round-trip.
        if civil_from_days(days) != (y, m, d) {
            return None;
        }
        Some(UnixTime((days + 1) * SECONDS_PER_DAY - 1))
    }
}

/// A proleptic Gregorian date to days since the epoch (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since the epoch to a proleptic Gregorian (year, month, day), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 in UTC, e.g. `2025-01-31T23:59:59Z`.
impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(SECONDS_PER_DAY);
        let secs = self.0.rem_euclid(SECONDS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(UnixTime::from_secs(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixTime::from_secs(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            UnixTime::from_secs(1_735_689_599).to_string(),
            "2024-12-31T23:59:59Z"
        );
        assert_eq!(UnixTime::from_secs(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_date_ends_at_its_last_utc_second() {
        assert_eq!(
            UnixTime::end_of_utc_date("2024-12-31")
                .map(|t| t.to_string())
                .as_deref(),
            Some("2024-12-31T23:59:59Z")
        );
        assert_eq!(
            UnixTime::end_of_utc_date("2000-02-29")
                .map(|t| t.to_string())
                .as_deref(),
            Some("2000-02-29T23:59:59Z")
        );
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-1-01",
            "tomorrow",
            "2025-01-01-01",
        ] {
            assert_eq!(UnixTime::end_of_utc_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_day_is_half_open() {
        let midnight = UnixTime::from_secs(1_735_689_600); // 2025-01-01T00:00:00Z
        assert_eq!(midnight.utc_day(), (midnight, UnixTime::from_secs(1_735_776_000)));
        let last_second = UnixTime::from_secs(1_735_689_599);
        assert_eq!(last_second.utc_day().1, midnight);
    }
}
