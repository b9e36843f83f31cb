//! The signer's two clocks, read only here.
//!
//! Rate limits refill from the kernel's monotonic clock, which wall-clock changes (a
//! spoofed time server, a reset appliance clock with no battery) do not move, tagged with
//! the boot id so that a reboot credits nothing. `rustix` reads it with a direct system
//! call (or the vDSO), not through libc. The wall clock is read only for limit-command
//! validity windows and journal timestamps, never for money.

use std::time::Duration;

use rustix::time::{clock_gettime, ClockId};
use sluice_shared::limiter::MonotonicReading;

const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The monotonic clock now. If the boot id cannot be read, a fresh random id is used, so
/// this reading credits nothing against any earlier one (fail closed).
pub fn monotonic_now() -> MonotonicReading {
    let ts = clock_gettime(ClockId::Monotonic);
    let since_boot = Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    );
    let boot_id = match std::fs::read_to_string(BOOT_ID_PATH) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => format!("unknown-{}", hex::encode(rand::random::<[u8; 16]>())),
    };
    MonotonicReading { boot_id, since_boot }
}

/// Wall-clock Unix seconds: for timestamps and command validity windows only.
#[allow(clippy::disallowed_methods)] // the one wall-clock read of the signer
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `2026-11-23T02:33:33Z` for Unix seconds (proleptic Gregorian calendar, UTC).
pub fn utc_text(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_readings_of_one_boot_never_go_back() {
        let a = monotonic_now();
        let b = monotonic_now();
        assert_eq!(a.boot_id, b.boot_id);
        assert!(b.since_boot >= a.since_boot);
    }

    #[test]
    fn utc_text_matches_known_dates() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_text(-1), "1969-12-31T23:59:59Z");
    }
}
