//! The wall clock, read only here: for default validity windows and for telling an
//! officer whether a command is valid now. Nothing is decided by it on this machine; the
//! signer checks the window against its own clock.

/// Wall-clock Unix seconds.
#[allow(clippy::disallowed_methods)] // the one wall-clock read of limitctl
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
