//! The signer's two clocks, read only here.
//!
//! Rate limits refill from the kernel's monotonic clock, which wall-clock changes (a
//! spoofed time server, a reset clock) do not move, tagged with the boot id so that a
//! reboot credits nothing. The wall clock is read only for limit-command validity windows
//! and journal timestamps.

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

/// Wall-clock Unix seconds: for timestamps and command windows only.
#[allow(clippy::disallowed_methods)] // the one wall-clock read of the signer
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
