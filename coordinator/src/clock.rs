//! The coordinator's one read of the wall clock (in seconds, or milliseconds). Everything else takes `UnixTime` as a
//! value, so rules that depend on time are tested with fixed instants.

use crate::time::UnixTime;

/// Now, in whole seconds since the Unix epoch (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)] // the coordinator's single wall-clock read
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    UnixTime::from_secs(secs)
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before 1970): for retry
/// schedules finer than a second (webhook back-off).
#[allow(clippy::disallowed_methods)] // the same single wall-clock read, finer
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
