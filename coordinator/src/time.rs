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

    /// The UTC day this instant falls in, as `[start, end)` in Unix seconds: daily limits
    /// count what was requested in this window.
    pub fn utc_day(self) -> (UnixTime, UnixTime) {
        let start = self.0.div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY;
        (UnixTime(start), UnixTime(start.saturating_add(SECONDS_PER_DAY)))
    }
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
    fn utc_day_is_half_open() {
        let midnight = UnixTime::from_secs(1_735_689_600); // 2025-01-01T00:00:00Z
        assert_eq!(midnight.utc_day(), (midnight, UnixTime::from_secs(1_735_776_000)));
        let last_second = UnixTime::from_secs(1_735_689_599);
        assert_eq!(last_second.utc_day().1, midnight);
    }
}
