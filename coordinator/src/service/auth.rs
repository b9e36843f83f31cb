//! Staff API tokens and authentication. A token is 32 random bytes shown once, written
//! `sluice_` + 64 hex digits; the database keeps only its SHA-256, so a copy of the
//! database does not let anyone act as staff.

use std::fmt;

use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Coordinator, ServiceError};
use crate::db;
use crate::rules::roles::Role;

const PREFIX: &str = "sluice_";
const ENROLL_PREFIX: &str = "sluice-enroll_";
const SECRET_BYTES: usize = 32;

/// 32 random bytes written `PREFIX` + 64 hex digits, of which the database keeps only the
/// SHA-256. The one helper behind staff tokens, enrollment secrets and console sessions.
pub(super) struct RandomSecret {
    raw: Zeroizing<[u8; SECRET_BYTES]>,
}

impl RandomSecret {
    pub(super) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> RandomSecret {
        let mut raw = Zeroizing::new([0u8; SECRET_BYTES]);
        rng.fill_bytes(&mut raw[..]);
        RandomSecret { raw }
    }

    pub(super) fn parse(text: &str, prefix: &str) -> Option<RandomSecret> {
        let hex_part = text.trim().strip_prefix(prefix)?;
        let mut raw = Zeroizing::new([0u8; SECRET_BYTES]);
        hex::decode_to_slice(hex_part, &mut raw[..]).ok()?;
        Some(RandomSecret { raw })
    }

    pub(super) fn reveal(&self, prefix: &str) -> Zeroizing<String> {
        Zeroizing::new(format!("{prefix}{}", hex::encode(&self.raw[..])))
    }

    pub(super) fn hash_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.raw[..]))
    }

    /// A value derived from the secret under `label` (domain-separated SHA-256), e.g. a
    /// console session's CSRF token: nothing to store, and useless without the secret.
    pub(super) fn derive_hex(&self, label: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(label.as_bytes());
        hasher.update([0u8]);
        hasher.update(&self.raw[..]);
        hex::encode(hasher.finalize())
    }
}

/// A staff member's bearer token. Its `Debug` never shows it; the text is erased on drop.
pub struct ApiToken(RandomSecret);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a staff token is `sluice_` followed by 64 hex digits, as `staff enroll` printed it")]
pub struct InvalidToken;

impl ApiToken {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> ApiToken {
        ApiToken(RandomSecret::generate(rng))
    }

    pub fn parse(text: &str) -> Result<ApiToken, InvalidToken> {
        RandomSecret::parse(text, PREFIX)
            .map(ApiToken)
            .ok_or(InvalidToken)
    }

    /// The text to show the staff member, once. Erase it after printing.
    pub fn reveal(&self) -> Zeroizing<String> {
        self.0.reveal(PREFIX)
    }

    /// What the database stores and looks tokens up by.
    pub(crate) fn hash_hex(&self) -> String {
        self.0.hash_hex()
    }
}

/// A single-use secret that lets one staff member collect their token (`staff enroll`).
/// An admin passes it on; only its holder ever sees the token it is exchanged for.
pub struct EnrollmentSecret(RandomSecret);

impl fmt::Debug for EnrollmentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrollmentSecret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an enrollment secret is `sluice-enroll_` followed by 64 hex digits, as printed when the change was approved")]
pub struct InvalidEnrollmentSecret;

impl EnrollmentSecret {
    pub(crate) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> EnrollmentSecret {
        EnrollmentSecret(RandomSecret::generate(rng))
    }

    pub fn parse(text: &str) -> Result<EnrollmentSecret, InvalidEnrollmentSecret> {
        RandomSecret::parse(text, ENROLL_PREFIX)
            .map(EnrollmentSecret)
            .ok_or(InvalidEnrollmentSecret)
    }

    /// The text to hand to the staff member, once. Erase it after printing.
    pub fn reveal(&self) -> Zeroizing<String> {
        self.0.reveal(ENROLL_PREFIX)
    }

    pub(crate) fn hash_hex(&self) -> String {
        self.0.hash_hex()
    }
}

/// A token hash nobody holds the token of: what a staff member's row carries until they
/// enroll (the column is NOT NULL UNIQUE). Nothing authenticates against it.
pub(crate) fn unusable_token_hash<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    ApiToken::generate(rng).hash_hex()
}

/// An authenticated staff member. Only `Coordinator::authenticate` makes one, so every
/// operation that takes an `Actor` ran behind a token check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    name: String,
    role: Role,
}

impl Actor {
    /// Only for the service's own authentication paths (token, console session).
    pub(super) fn authenticated(name: String, role: Role) -> Actor {
        Actor { name, role }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        self.role
    }
}

impl Coordinator {
    /// The active staff member holding `token`.
    pub fn authenticate(&mut self, token: &ApiToken) -> Result<Actor, ServiceError> {
        let tx = self.db.read()?;
        match db::staff::find_by_token_hash(&tx, &token.hash_hex())? {
            Some(staff) if staff.active => Ok(Actor {
                name: staff.name,
                role: staff.role,
            }),
            _ => Err(ServiceError::Unauthenticated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hide() {
        let token = ApiToken::generate(&mut rand::thread_rng());
        let text = token.reveal();
        assert!(text.starts_with("sluice_") && text.len() == 7 + 64);
        let parsed = ApiToken::parse(&text).unwrap();
        assert_eq!(parsed.hash_hex(), token.hash_hex());
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
        let secret = EnrollmentSecret::generate(&mut rand::thread_rng());
        let text = secret.reveal();
        assert!(text.starts_with("sluice-enroll_"));
        assert_eq!(
            EnrollmentSecret::parse(&text).unwrap().hash_hex(),
            secret.hash_hex()
        );
        assert!(ApiToken::parse(&text).is_err(), "a secret is not a token");
        assert_eq!(format!("{secret:?}"), "EnrollmentSecret(<redacted>)");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "sluice_",
            "sluice_zz",
            &format!("sluice_{}", "a".repeat(62)),
            &"a".repeat(64),
        ] {
            assert_eq!(ApiToken::parse(bad).unwrap_err(), InvalidToken);
        }
    }
}
