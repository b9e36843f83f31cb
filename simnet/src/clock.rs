//! The one place simnet reads the wall clock: block timestamps and mempool entry times,
//! as a node has them. Nothing that decides money reads it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)] // simnet is a node: it stamps blocks with the wall clock
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
