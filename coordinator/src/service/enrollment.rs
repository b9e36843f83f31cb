//! Enrollment: how a staff member collects their token. Adding staff and rotating a
//! token (both four-eyes proposals) and `init` issue a single-use, expiring enrollment
//! secret; its holder exchanges it for a fresh token, which only they ever see. Only the
//! secret's SHA-256 is stored; an admin who passes the secret on never sees the token, and
//! a secret someone else redeemed first is refused to its holder, who then knows.

use rand::{CryptoRng, RngCore};
use rusqlite::Connection;
use serde_json::json;

use super::auth::{ApiToken, EnrollmentSecret};
use super::{Coordinator, ServiceError};
use crate::db::{audit, enrollments, staff, DbError};
use crate::rules::proposals::{expiry, ENROLLMENT_LIFETIME};
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentRefusal {
    #[error("unknown enrollment secret: check it was copied whole, or ask the admins to propose `staff rotate-token`")]
    Unknown,
    #[error("this enrollment secret was already used: if you did not use it, tell your admins at once (someone else holds your token) and have them rotate it")]
    AlreadyUsed,
    #[error("a newer enrollment secret was issued for {0}: use that one")]
    Superseded(String),
    #[error("this enrollment secret expired at {0}: ask the admins to propose `staff rotate-token`")]
    Expired(UnixTime),
    #[error("staff member {0} is deactivated: an admin must reactivate them first")]
    Inactive(String),
}

impl EnrollmentRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            EnrollmentRefusal::Unknown => "unknown_enrollment",
            EnrollmentRefusal::AlreadyUsed => "enrollment_used",
            EnrollmentRefusal::Superseded(_) => "enrollment_superseded",
            EnrollmentRefusal::Expired(_) => "enrollment_expired",
            EnrollmentRefusal::Inactive(_) => "staff_inactive",
        }
    }
}

/// Issues a new enrollment secret for `name` (any older unused one stops working).
pub(super) fn issue_enrollment<R: RngCore + CryptoRng>(
    conn: &Connection,
    name: &str,
    rng: &mut R,
    now: UnixTime,
) -> Result<EnrollmentSecret, DbError> {
    let secret = EnrollmentSecret::generate(rng);
    enrollments::insert(
        conn,
        &secret.hash_hex(),
        name,
        now,
        expiry(now, ENROLLMENT_LIFETIME),
    )?;
    Ok(secret)
}

impl Coordinator {
    /// Exchanges an enrollment secret for its holder's new token (shown once, to them).
    /// Returns the staff member's name and the token; any token they held before stops
    /// working.
    pub fn enroll<R: RngCore + CryptoRng>(
        &mut self,
        secret: &EnrollmentSecret,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<(String, ApiToken), ServiceError> {
        let tx = self.db.write()?;
        let name = redeem(&tx, secret, now)?;
        let token = ApiToken::generate(rng);
        staff::set_token_hash(&tx, &name, &token.hash_hex())?;
        audit::record(&tx, &name, "staff enroll", &name, &json!({}), now)?;
        tx.commit()?;
        Ok((name, token))
    }
}

/// Checks and marks used an enrollment secret, in the caller's write transaction.
/// Returns the active staff member it enrolls.
pub(super) fn redeem(
    conn: &Connection,
    secret: &EnrollmentSecret,
    now: UnixTime,
) -> Result<String, ServiceError> {
    let record = enrollments::find_by_hash(conn, &secret.hash_hex())?.ok_or(EnrollmentRefusal::Unknown)?;
    if record.redeemed {
        return Err(EnrollmentRefusal::AlreadyUsed.into());
    }
    if !record.latest {
        return Err(EnrollmentRefusal::Superseded(record.staff_name).into());
    }
    if now >= record.expires_at {
        return Err(EnrollmentRefusal::Expired(record.expires_at).into());
    }
    let member = staff::find(conn, &record.staff_name)?
        .ok_or_else(|| DbError::Corrupt(format!("enrollment for unknown staff {}", record.staff_name)))?;
    if !member.active {
        return Err(EnrollmentRefusal::Inactive(member.name).into());
    }
    if !enrollments::redeem(conn, record.id, now)? {
        return Err(EnrollmentRefusal::AlreadyUsed.into());
    }
    Ok(member.name)
}
