//! The coordinator's identity key (BIP340, secp256k1): it signs every reply to an online
//! signer (`sluice_shared::signer_api::sign_reply`), so a signer that was given the public
//! key at setup knows whom it talks to. The secret key lives in a file of its own beside
//! the database (`<db>` with the extension `identity-key`), created 0600 at `init` and
//! refused if anyone but the owner can read it; it never reaches a log (`Debug` shows the
//! public key only).

use std::path::{Path, PathBuf};

use bitcoin::secp256k1::{Keypair, Secp256k1, XOnlyPublicKey};
use rand::RngCore;
use sluice_fsutil::WriteError;
use sluice_shared::signer_api::{sign_reply, ReplyContext};

use crate::key_file::{self, KeyFileError};

/// Why the identity key could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no coordinator identity key at {path}: run `sluice-coordinator identity create` (once; then give its public key to every online signer)")]
    Missing { path: String },
    #[error("reading the coordinator identity key {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is readable by others (mode {mode:o}): the identity key must be 0600; run `chmod 600 {path}`"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("{path} does not hold a coordinator identity key (64 hex digits)")]
    Malformed { path: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl IdentityError {
    fn from_key_file(error: KeyFileError) -> IdentityError {
        match error {
            KeyFileError::Missing { path } => IdentityError::Missing { path },
            KeyFileError::Read { path, source } => IdentityError::Read { path, source },
            KeyFileError::TooOpen { path, mode } => IdentityError::TooOpen { path, mode },
            KeyFileError::Malformed { path } => IdentityError::Malformed { path },
            KeyFileError::Write(e) => IdentityError::Write(e),
        }
    }
}

/// The coordinator's identity key pair.
pub struct CoordinatorIdentity {
    keypair: Keypair,
}

impl std::fmt::Debug for CoordinatorIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorIdentity")
            .field("public_key", &self.public_key().to_string())
            .finish_non_exhaustive()
    }
}

impl Drop for CoordinatorIdentity {
    fn drop(&mut self) {
        self.keypair.non_secure_erase();
    }
}

impl CoordinatorIdentity {
    /// Where the key of the coordinator whose database is `db` lives.
    pub fn path_for(db: &Path) -> PathBuf {
        db.with_extension("identity-key")
    }

    /// A fresh key (tests; `create` for a real coordinator).
    pub fn generate(rng: &mut impl RngCore) -> CoordinatorIdentity {
        CoordinatorIdentity {
            keypair: key_file::generate(rng),
        }
    }

    /// Creates a new key file at `path` (never overwrites one). At `init` the identity is
    /// made before the database, so its directory may not exist yet: it is created private.
    pub fn create(path: &Path, rng: &mut impl RngCore) -> Result<CoordinatorIdentity, IdentityError> {
        let identity = CoordinatorIdentity::generate(rng);
        key_file::create(path, &identity.keypair).map_err(IdentityError::from_key_file)?;
        Ok(identity)
    }

    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<CoordinatorIdentity, IdentityError> {
        Ok(CoordinatorIdentity {
            keypair: key_file::load(path).map_err(IdentityError::from_key_file)?,
        })
    }

    /// The public key signers are given at setup (`sluice-signer coordinator trust`).
    pub fn public_key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    /// The reply signature header value for `request`, `status` and `body`.
    pub fn sign_reply(&self, request: &ReplyContext<'_>, status: u16, body: &[u8]) -> String {
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut aux);
        sign_reply(
            &Secp256k1::signing_only(),
            &self.keypair,
            request,
            status,
            body,
            aux,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_private_and_loaded_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = CoordinatorIdentity::path_for(&dir.path().join("c.sqlite"));
        assert_eq!(path, dir.path().join("c.identity-key"));
        assert!(matches!(
            CoordinatorIdentity::load(&path),
            Err(IdentityError::Missing { .. })
        ));
        let created = CoordinatorIdentity::create(&path, &mut rand::thread_rng()).unwrap();
        assert_eq!(sluice_fsutil::mode_of(&path).unwrap(), 0o600);
        let loaded = CoordinatorIdentity::load(&path).unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
        let secret = hex::encode(created.keypair.secret_bytes());
        assert!(!format!("{loaded:?}").contains(&secret));
        assert!(CoordinatorIdentity::create(&path, &mut rand::thread_rng()).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            CoordinatorIdentity::load(&path),
            Err(IdentityError::TooOpen { .. })
        ));
    }
}
