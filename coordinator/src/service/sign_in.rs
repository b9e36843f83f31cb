//! Console sign-in: a password (Argon2id) and a TOTP code (RFC 6238, `crate::totp`) open
//! a server-side session. The holder of an enrollment secret sets both
//! (`enroll_for_console`); `sign_in` checks them with back-off after failures
//! (`rules::sign_in`); `console_actor` turns a session cookie into the `Actor` every
//! service operation takes, so each console action is attributed to the person.
//!
//! The session id is 32 random bytes the browser holds as a cookie; the database keeps
//! its SHA-256 only. The CSRF token is derived from the id (nothing stored).

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::{CryptoRng, RngCore};
use serde_json::json;
use zeroize::Zeroizing;

use super::auth::{ApiToken, EnrollmentSecret, RandomSecret};
use super::enrollment::redeem;
use super::{Actor, Coordinator, ServiceError};
use crate::db::{audit, credentials, staff};
use crate::rules::sign_in::{lockout_after, session_state, SessionState};
use crate::time::UnixTime;
use crate::totp::{self, TotpParams, TotpSecret};

/// Shortest password accepted: long passphrases beat complexity rules.
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 256;
/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Sluice Treasury";
const CSRF_LABEL: &str = "sluice console csrf";

/// A password as typed. Erased on drop; `Debug` does not show it.
pub struct Password(Zeroizing<String>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Any text (for checking at sign-in).
    pub fn new(text: Zeroizing<String>) -> Password {
        Password(text)
    }

    /// A new password: `MIN_PASSWORD_CHARS` to 256 characters.
    fn check_new(&self) -> Result<(), ServiceError> {
        let n = self.0.chars().count();
        if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
            Ok(())
        } else {
            Err(ServiceError::Invalid(format!(
                "the password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters (a few words make a good one)"
            )))
        }
    }
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's minimum), as a
/// PHC string that carries its own parameters and salt.
fn hash_password<R: RngCore + CryptoRng>(password: &Password, rng: &mut R) -> Result<String, ServiceError> {
    let salt = SaltString::generate(rng);
    Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ServiceError::Invalid(format!("cannot hash the password: {e}")))
}

fn password_matches(password: &Password, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.0.as_bytes(), &hash)
            .is_ok()
    })
}

/// Spends the time a real check would, so an unknown name answers as slowly as a known one.
fn waste_a_password_check(password: &Password) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let salt = SaltString::from_b64("c2x1aWNlZHVtbXlzYWx0").ok()?;
        Argon2::default()
            .hash_password(b"not anybody's password", &salt)
            .ok()
            .map(|hash| hash.to_string())
    });
    if let Some(dummy) = dummy {
        let _ = password_matches(password, dummy);
    }
}

/// Why a sign-in was refused. Deliberately vague: which of name, password or code was
/// wrong is not said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefusal {
    #[error("wrong name, password or one-time code (each code is accepted once: if you just used it, wait for the next)")]
    Failed,
    #[error("too many failed sign-ins: try again after {0}, or ask an admin to re-issue your enrollment")]
    LockedOut(UnixTime),
    #[error("your console session ended (signed out, idle or too old): sign in again")]
    SessionEnded,
}

impl SignInRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            SignInRefusal::Failed => "sign_in_failed",
            SignInRefusal::LockedOut(_) => "locked_out",
            SignInRefusal::SessionEnded => "session_ended",
        }
    }
}

/// What enrollment shows its holder once: the API token and the TOTP secret (as an
/// otpauth URI for the QR code). `Debug` shows the name only.
pub struct ConsoleEnrollment {
    pub staff: String,
    pub token: ApiToken,
    pub totp: TotpSecret,
    pub otpauth_uri: Zeroizing<String>,
}

impl fmt::Debug for ConsoleEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleEnrollment")
            .field("staff", &self.staff)
            .finish_non_exhaustive()
    }
}

/// A console session's id (the cookie). `Debug` does not show it.
pub struct ConsoleSessionId(RandomSecret);

impl fmt::Debug for ConsoleSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleSessionId(<redacted>)")
    }
}

impl ConsoleSessionId {
    /// From the cookie's value (64 hex digits); `None` if malformed.
    pub fn parse(text: &str) -> Option<ConsoleSessionId> {
        RandomSecret::parse(text, "").map(ConsoleSessionId)
    }

    /// The cookie's value.
    pub fn reveal(&self) -> Zeroizing<String> {
        self.0.reveal("")
    }

    /// The synchronizer token every form of this session carries.
    pub fn csrf_token(&self) -> String {
        self.0.derive_hex(CSRF_LABEL)
    }
}

impl Coordinator {
    /// Redeems an enrollment secret for the console: sets the holder's password and a
    /// fresh TOTP secret (and a fresh API token, as `enroll` does), ends their open
    /// console sessions. Returns what to show them once.
    pub fn enroll_for_console<R: RngCore + CryptoRng>(
        &mut self,
        secret: &EnrollmentSecret,
        password: &Password,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<ConsoleEnrollment, ServiceError> {
        password.check_new()?;
        // Hash before taking the write lock (Argon2id takes a while on purpose).
        let password_hash = hash_password(password, rng)?;
        let totp = TotpSecret::generate(rng);
        let tx = self.db.write()?;
        let name = redeem(&tx, secret, now)?;
        let token = ApiToken::generate(rng);
        staff::set_token_hash(&tx, &name, &token.hash_hex())?;
        credentials::set(&tx, &name, &password_hash, totp.expose_bytes(), now)?;
        credentials::end_sessions_of(&tx, &name, now)?;
        audit::record(&tx, &name, "staff enroll", &name, &json!({"console": true}), now)?;
        tx.commit()?;
        let otpauth_uri = totp::otpauth_uri(&totp, &TotpParams::STANDARD, TOTP_ISSUER, &name);
        Ok(ConsoleEnrollment {
            staff: name,
            token,
            totp,
            otpauth_uri,
        })
    }

    /// Checks name, password and TOTP code; opens a session. Failures count towards a
    /// lockout (`rules::sign_in`); while locked out nothing is checked.
    pub fn sign_in<R: RngCore + CryptoRng>(
        &mut self,
        name: &str,
        password: &Password,
        code: &str,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<ConsoleSessionId, ServiceError> {
        let stored = {
            let tx = self.db.read()?;
            match staff::find(&tx, name)? {
                Some(member) if member.active => credentials::find(&tx, name)?,
                _ => None,
            }
        };
        let Some(stored) = stored else {
            waste_a_password_check(password);
            return Err(SignInRefusal::Failed.into());
        };
        if let Some(until) = stored.locked_until.filter(|until| now < *until) {
            return Err(SignInRefusal::LockedOut(until).into());
        }
        let password_ok = password_matches(password, &stored.password_hash);
        // The TOTP check and what it records happen in one write transaction, against
        // the state as it is now (two sign-ins racing with one code: one wins).
        let tx = self.db.write()?;
        let current = credentials::find(&tx, name)?.ok_or(SignInRefusal::Failed)?;
        if let Some(until) = current.locked_until.filter(|until| now < *until) {
            return Err(SignInRefusal::LockedOut(until).into());
        }
        let secret = TotpSecret::from_bytes(&current.totp_secret);
        let code_ok = totp::verify(
            &secret,
            &TotpParams::STANDARD,
            code.trim(),
            now,
            current.totp_last_step,
        );
        let step = match (
            password_ok,
            code_ok,
            current.password_hash == stored.password_hash,
        ) {
            (true, Ok(step), true) => step,
            _ => {
                let failed = current.failed_attempts.saturating_add(1);
                let locked_until = lockout_after(failed, now);
                credentials::record_failure(&tx, name, failed, locked_until, now)?;
                if let Some(until) = locked_until {
                    audit::record(
                        &tx,
                        name,
                        "console sign-in locked",
                        name,
                        &json!({"failed_attempts": failed, "locked_until": until.secs()}),
                        now,
                    )?;
                }
                tx.commit()?;
                return Err(SignInRefusal::Failed.into());
            }
        };
        credentials::record_success(&tx, name, step, now)?;
        let session = ConsoleSessionId(RandomSecret::generate(rng));
        credentials::insert_session(&tx, &session.0.hash_hex(), name, now)?;
        audit::record(&tx, name, "console sign-in", name, &json!({}), now)?;
        tx.commit()?;
        Ok(session)
    }

    /// The signed-in, active staff member of a live session; marks the session used.
    pub fn console_actor(
        &mut self,
        session: &ConsoleSessionId,
        now: UnixTime,
    ) -> Result<Actor, ServiceError> {
        let id_hash = session.0.hash_hex();
        let tx = self.db.write()?;
        let record = credentials::find_session(&tx, &id_hash)?.ok_or(SignInRefusal::SessionEnded)?;
        match session_state(record.created_at, record.last_seen_at, record.ended, now) {
            SessionState::Live => {}
            SessionState::Idle | SessionState::Expired => {
                credentials::end_session(&tx, &id_hash, now)?;
                tx.commit()?;
                return Err(SignInRefusal::SessionEnded.into());
            }
            SessionState::Ended => return Err(SignInRefusal::SessionEnded.into()),
        }
        let member = match staff::find(&tx, &record.staff_name)? {
            Some(member) if member.active => member,
            _ => {
                credentials::end_session(&tx, &id_hash, now)?;
                tx.commit()?;
                return Err(ServiceError::Unauthenticated);
            }
        };
        credentials::touch_session(&tx, &id_hash, now)?;
        tx.commit()?;
        Ok(Actor::authenticated(member.name, member.role))
    }

    /// Ends the session (sign-out). Ending an ended or unknown session is not an error.
    pub fn sign_out(&mut self, session: &ConsoleSessionId, now: UnixTime) -> Result<(), ServiceError> {
        let id_hash = session.0.hash_hex();
        let tx = self.db.write()?;
        if let Some(record) = credentials::find_session(&tx, &id_hash)? {
            if credentials::end_session(&tx, &id_hash, now)? {
                audit::record(
                    &tx,
                    &record.staff_name,
                    "console sign-out",
                    &record.staff_name,
                    &json!({}),
                    now,
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
