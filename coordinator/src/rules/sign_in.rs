//! Console sign-in decisions: the back-off after failed attempts and when a session
//! ends. Pure: attempts and times come in as values.

use std::time::Duration;

use crate::time::UnixTime;

/// Failed attempts allowed before the first lockout (typos happen).
pub const FREE_ATTEMPTS: u32 = 3;
/// The first lockout; each further failure doubles it.
pub const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
/// The longest lockout: a guesser gets at most a few tries an hour, the person an hour's
/// wait at worst (an admin can re-issue their enrollment sooner).
pub const MAX_LOCKOUT: Duration = Duration::from_secs(3600);

/// A session unused this long ends (the next request signs in again).
pub const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);
/// A session ends this long after sign-in however busy it is.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(8 * 3600);

/// Until when a staff member is locked out after `failed_attempts` consecutive failures
/// (the one just made included), or `None` while they have free attempts left.
pub fn lockout_after(failed_attempts: u32, now: UnixTime) -> Option<UnixTime> {
    let over = failed_attempts.checked_sub(FREE_ATTEMPTS)?;
    let lockout = FIRST_LOCKOUT
        .checked_mul(2u32.saturating_pow(over.min(16)))
        .unwrap_or(MAX_LOCKOUT)
        .min(MAX_LOCKOUT);
    let secs = i64::try_from(lockout.as_secs()).unwrap_or(i64::MAX);
    Some(UnixTime::from_secs(now.secs().saturating_add(secs)))
}

/// Whether a session is still usable at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// Unused for longer than `SESSION_IDLE`.
    Idle,
    /// Older than `SESSION_ABSOLUTE`.
    Expired,
    /// Signed out (or ended by new credentials or deactivation).
    Ended,
}

pub fn session_state(
    created_at: UnixTime,
    last_seen_at: UnixTime,
    ended: bool,
    now: UnixTime,
) -> SessionState {
    let elapsed = |since: UnixTime| u64::try_from(now.secs().saturating_sub(since.secs())).unwrap_or(0);
    if ended {
        SessionState::Ended
    } else if elapsed(created_at) >= SESSION_ABSOLUTE.as_secs() {
        SessionState::Expired
    } else if elapsed(last_seen_at) >= SESSION_IDLE.as_secs() {
        SessionState::Idle
    } else {
        SessionState::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_from_the_fourth_failure_up_to_an_hour() {
        let now = UnixTime::from_secs(1_000);
        assert_eq!(lockout_after(0, now), None);
        assert_eq!(lockout_after(FREE_ATTEMPTS - 1, now), None);
        let waits: Vec<i64> = (FREE_ATTEMPTS..FREE_ATTEMPTS + 9)
            .map(|n| lockout_after(n, now).map_or(0, |t| t.secs() - now.secs()))
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(
            lockout_after(u32::MAX, now),
            Some(UnixTime::from_secs(1_000 + 3600))
        );
    }

    #[test]
    fn sessions_end_when_idle_expired_or_signed_out() {
        let t = |s| UnixTime::from_secs(s);
        assert_eq!(session_state(t(0), t(0), false, t(60)), SessionState::Live);
        assert_eq!(session_state(t(0), t(0), false, t(15 * 60)), SessionState::Idle);
        assert_eq!(
            session_state(t(0), t(8 * 3600 - 60), false, t(8 * 3600)),
            SessionState::Expired
        );
        assert_eq!(session_state(t(0), t(0), true, t(1)), SessionState::Ended);
    }
}
