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
const TOKEN_BYTES: usize = 32;

/// A staff member's bearer token. Its `Debug` never shows it; the text is erased on drop.
pub struct ApiToken {
    raw: Zeroizing<[u8; TOKEN_BYTES]>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a staff token is `sluice_` followed by 64 hex digits, as printed when the staff member was added")]
pub struct InvalidToken;

impl ApiToken {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> ApiToken {
        let mut raw = Zeroizing::new([0u8; TOKEN_BYTES]);
        rng.fill_bytes(&mut raw[..]);
        ApiToken { raw }
    }

    pub fn parse(text: &str) -> Result<ApiToken, InvalidToken> {
        let hex_part = text.trim().strip_prefix(PREFIX).ok_or(InvalidToken)?;
        let mut raw = Zeroizing::new([0u8; TOKEN_BYTES]);
        hex::decode_to_slice(hex_part, &mut raw[..]).map_err(|_| InvalidToken)?;
        Ok(ApiToken { raw })
    }

    /// The text to show the staff member, once. Erase it after printing.
    pub fn reveal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}", hex::encode(&self.raw[..])))
    }

    /// What the database stores and looks tokens up by.
    pub(crate) fn hash_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.raw[..]))
    }
}

/// An authenticated staff member. Only `Coordinator::authenticate` makes one, so every
/// operation that takes an `Actor` ran behind a token check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    name: String,
    role: Role,
}

impl Actor {
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
        assert!(!token.hash_hex().contains(&text[7..]));
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
