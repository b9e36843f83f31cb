//! The coordinator's audit key (BIP340, secp256k1), which signs every audit entry. A file
//! of its own beside the database (`<db>` with the extension `audit-key`), 0600, made with
//! the database; `Debug` shows only the public key.

use std::path::{Path, PathBuf};

use bitcoin::secp256k1::{Keypair, XOnlyPublicKey};
use rand::RngCore;

use crate::key_file::{self, KeyFileError};

#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("the audit key is missing but the audit log has entries signed by it: restore {path} from your backup (a new key cannot continue the chain)")]
    MissingWithEntries { path: String },
    #[error("the coordinator's audit key: {0}")]
    File(#[from] KeyFileError),
}

pub struct AuditKey {
    keypair: Keypair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public_key", &self.public_key().to_string())
            .finish_non_exhaustive()
    }
}

impl Drop for AuditKey {
    fn drop(&mut self) {
        self.keypair.non_secure_erase();
    }
}

impl AuditKey {
    /// Where the audit key of the coordinator whose database is `db` lives.
    pub fn path_for(db: &Path) -> PathBuf {
        db.with_extension("audit-key")
    }

    pub fn generate(rng: &mut impl RngCore) -> AuditKey {
        AuditKey {
            keypair: key_file::generate(rng),
        }
    }

    /// Reads the key at `path`; creates it there when missing and `log_is_empty` (a new
    /// database, or one from before the audit log). A missing key with entries is refused:
    /// a fresh key would silently start a chain nobody can connect to the old one.
    pub fn load_or_create(
        path: &Path,
        log_is_empty: bool,
        rng: &mut impl RngCore,
    ) -> Result<AuditKey, AuditKeyError> {
        match key_file::load(path) {
            Ok(keypair) => Ok(AuditKey { keypair }),
            Err(KeyFileError::Missing { path: shown }) => {
                if !log_is_empty {
                    return Err(AuditKeyError::MissingWithEntries { path: shown });
                }
                let key = AuditKey::generate(rng);
                match key_file::create(path, &key.keypair) {
                    Ok(()) => Ok(key),
                    // Another process of this coordinator made it first: use theirs.
                    Err(KeyFileError::Write(sluice_fsutil::WriteError::AlreadyExists { .. })) => {
                        Ok(AuditKey {
                            keypair: key_file::load(path)?,
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn public_key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    /// The signature of an entry hash.
    pub fn sign(&self, entry_hash: &[u8; 32]) -> [u8; 64] {
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut aux);
        sluice_shared::secp::signing()
            .sign_schnorr_with_aux_rand(&super::chain::message(entry_hash), &self.keypair, &aux)
            .serialize()
    }
}
