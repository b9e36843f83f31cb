//! Keystore encryption: a secret sealed with XChaCha20-Poly1305 under a key derived from
//! the passphrase with Argon2id. Randomness (salt, nonce) is passed in by the caller.
//!
//! OWNER: helper "rules" — implement the `todo!()` bodies; keep the signatures.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2id cost parameters, stored with each sealed secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// What new keystores use: 64 MiB, 3 passes, 1 lane.
    pub const RECOMMENDED: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Cheap parameters for tests only: never for real keys.
    pub const DANGEROUS_WEAK_FOR_TESTS: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
}

/// A sealed secret as stored on disk (JSON). `purpose` (e.g. `sluice-signer-seed`,
/// `limitctl-officer-key`) is authenticated so a file cannot be swapped for another kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub format: u32,
    pub purpose: String,
    pub kdf: KdfParams,
    #[serde(with = "hex::serde")]
    pub salt: [u8; 16],
    #[serde(with = "hex::serde")]
    pub nonce: [u8; 24],
    #[serde(with = "hex::serde")]
    pub ciphertext: Vec<u8>,
}

/// Why a secret could not be sealed or opened. Never contains the secret or passphrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    #[error("wrong passphrase, or the keystore file is corrupt")]
    WrongPassphraseOrCorrupt,
    #[error("this keystore holds a {found} secret, not a {expected} secret")]
    WrongPurpose { expected: String, found: String },
    #[error("unsupported keystore format {0}")]
    UnsupportedFormat(u32),
    #[error("invalid key-derivation parameters: {0}")]
    Kdf(String),
    #[error("keystore file is not valid: {0}")]
    Corrupt(String),
}

/// Seals `secret` under `passphrase`.
pub fn seal(
    purpose: &str,
    secret: &[u8],
    passphrase: &SecretString,
    kdf: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 24],
) -> Result<SealedSecret, KeystoreError> {
    let _ = (purpose, secret, passphrase, kdf, salt, nonce);
    todo!("rules helper")
}

impl SealedSecret {
    /// Opens the secret; fails if the passphrase is wrong, the file was altered, or it is
    /// not a `purpose` secret.
    pub fn open(
        &self,
        purpose: &str,
        passphrase: &SecretString,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let _ = (purpose, passphrase);
        todo!("rules helper")
    }

    pub fn to_json(&self) -> String {
        todo!("rules helper")
    }

    pub fn from_json(text: &str) -> Result<SealedSecret, KeystoreError> {
        let _ = text;
        todo!("rules helper")
    }
}
