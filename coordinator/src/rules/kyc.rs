//! A customer's KYC status as compliance set it, and what it means at a given moment:
//! only a customer verified now may withdraw, and deposits from anyone else are tagged.
//! A verification with a date runs out by itself (`Expired`); nothing needs to run at
//! that date for the refusal to start.

use std::fmt;

use crate::time::UnixTime;

/// What compliance recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycStatus {
    Unverified,
    /// Verified; `until` is the last instant the verification holds (`None`: no expiry).
    Verified {
        until: Option<UnixTime>,
    },
    Revoked,
}

/// What the status means now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycStanding {
    Verified,
    Unverified,
    Expired { at: UnixTime },
    Revoked,
}

impl KycStatus {
    /// The stored word (`customers.kyc_status`).
    pub fn as_str(self) -> &'static str {
        match self {
            KycStatus::Unverified => "unverified",
            KycStatus::Verified { .. } => "verified",
            KycStatus::Revoked => "revoked",
        }
    }

    /// From the stored word and date; `None` for anything else.
    pub fn from_stored(status: &str, until: Option<UnixTime>) -> Option<KycStatus> {
        match (status, until) {
            ("unverified", None) => Some(KycStatus::Unverified),
            ("verified", until) => Some(KycStatus::Verified { until }),
            ("revoked", None) => Some(KycStatus::Revoked),
            _ => None,
        }
    }

    pub fn until(self) -> Option<UnixTime> {
        match self {
            KycStatus::Verified { until } => until,
            _ => None,
        }
    }

    pub fn standing(self, now: UnixTime) -> KycStanding {
        match self {
            KycStatus::Unverified => KycStanding::Unverified,
            KycStatus::Revoked => KycStanding::Revoked,
            KycStatus::Verified { until: Some(at) } if now > at => KycStanding::Expired { at },
            KycStatus::Verified { .. } => KycStanding::Verified,
        }
    }
}

impl KycStanding {
    pub fn is_verified(self) -> bool {
        self == KycStanding::Verified
    }

    /// The word shown to staff and in the API: `verified`, `unverified`, `expired`, `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            KycStanding::Verified => "verified",
            KycStanding::Unverified => "unverified",
            KycStanding::Expired { .. } => "expired",
            KycStanding::Revoked => "revoked",
        }
    }
}

impl fmt::Display for KycStanding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KycStanding::Expired { at } => write!(f, "expired (verification ran out at {at})"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_verification_expires_after_its_last_instant() {
        let until = UnixTime::from_secs(1_000);
        let status = KycStatus::Verified { until: Some(until) };
        assert_eq!(status.standing(UnixTime::from_secs(1_000)), KycStanding::Verified);
        assert_eq!(
            status.standing(UnixTime::from_secs(1_001)),
            KycStanding::Expired { at: until }
        );
        let forever = KycStatus::Verified { until: None };
        assert!(forever.standing(UnixTime::from_secs(i64::MAX)).is_verified());
        assert!(!KycStatus::Unverified
            .standing(UnixTime::from_secs(0))
            .is_verified());
        assert!(!KycStatus::Revoked.standing(UnixTime::from_secs(0)).is_verified());
    }

    #[test]
    fn stored_words_round_trip_and_nonsense_is_refused() {
        for status in [
            KycStatus::Unverified,
            KycStatus::Revoked,
            KycStatus::Verified { until: None },
            KycStatus::Verified {
                until: Some(UnixTime::from_secs(5)),
            },
        ] {
            assert_eq!(
                KycStatus::from_stored(status.as_str(), status.until()),
                Some(status)
            );
        }
        assert_eq!(
            KycStatus::from_stored("revoked", Some(UnixTime::from_secs(5))),
            None
        );
        assert_eq!(KycStatus::from_stored("expired", None), None);
    }
}
