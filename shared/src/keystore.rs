//! Keystore encryption: a secret sealed with XChaCha20-Poly1305 under a key derived from
//! the passphrase with Argon2id. Randomness (salt, nonce) is passed in by the caller.
//!
//! The header (format, purpose, KDF parameters, salt) is authenticated as associated
//! data, so an edited header fails exactly like a wrong passphrase, and a file sealed for
//! one purpose cannot be opened as another. The associated data of format 1 is
//! `"sluice-keystore" ‖ format ‖ len(purpose) ‖ purpose ‖ memory_kib ‖ iterations ‖
//! parallelism ‖ salt`, integers as 4-byte big-endian; the nonce needs no binding (a
//! changed nonce fails the tag). The ciphertext carries the 16-byte Poly1305 tag at its end.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The only format this code writes and reads.
pub const FORMAT: u32 = 1;

/// XChaCha20-Poly1305 key length, and so the Argon2id output length.
const KEY_LEN: usize = 32;

/// Poly1305 tag length, appended to the ciphertext.
const TAG_LEN: usize = 16;

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

    /// The most a keystore may ask for. A file is outside input: without a ceiling, an
    /// edited header could make opening it allocate without bound or run for days.
    const LARGEST_ACCEPTED: KdfParams = KdfParams {
        memory_kib: 4 * 1024 * 1024,
        iterations: 100,
        parallelism: 16,
    };

    fn validate(&self) -> Result<Params, KeystoreError> {
        let weakest = KdfParams::DANGEROUS_WEAK_FOR_TESTS;
        if self.memory_kib < weakest.memory_kib
            || self.iterations < weakest.iterations
            || self.parallelism < weakest.parallelism
        {
            return Err(KeystoreError::Kdf(format!(
                "{self} is weaker than the minimum {weakest}"
            )));
        }
        let largest = KdfParams::LARGEST_ACCEPTED;
        if self.memory_kib > largest.memory_kib
            || self.iterations > largest.iterations
            || self.parallelism > largest.parallelism
        {
            return Err(KeystoreError::Kdf(format!(
                "{self} is above the maximum {largest}"
            )));
        }
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(KEY_LEN))
            .map_err(|e| KeystoreError::Kdf(format!("{self}: {e}")))
    }
}

impl std::fmt::Display for KdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Argon2id with {} KiB, {} passes, {} lanes",
            self.memory_kib, self.iterations, self.parallelism
        )
    }
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

fn derive_key(
    passphrase: &SecretString,
    kdf: &KdfParams,
    salt: &[u8; 16],
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeystoreError> {
    let params = kdf.validate()?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, key.as_mut())
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    Ok(key)
}

fn associated_data(format: u32, purpose: &str, kdf: &KdfParams, salt: &[u8; 16]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + purpose.len());
    aad.extend_from_slice(b"sluice-keystore");
    aad.extend_from_slice(&format.to_be_bytes());
    aad.extend_from_slice(&u32::try_from(purpose.len()).unwrap_or(u32::MAX).to_be_bytes());
    aad.extend_from_slice(purpose.as_bytes());
    aad.extend_from_slice(&kdf.memory_kib.to_be_bytes());
    aad.extend_from_slice(&kdf.iterations.to_be_bytes());
    aad.extend_from_slice(&kdf.parallelism.to_be_bytes());
    aad.extend_from_slice(salt);
    aad
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
    let key = derive_key(passphrase, &kdf, &salt)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let aad = associated_data(FORMAT, purpose, &kdf, &salt);
    // Encrypt in a zeroizing buffer sized for the tag up front: the plaintext copy is
    // overwritten in place, and wiped even if encryption fails.
    let mut buffer = Zeroizing::new(Vec::with_capacity(secret.len() + TAG_LEN));
    buffer.extend_from_slice(secret);
    cipher
        .encrypt_in_place(XNonce::from_slice(&nonce), &aad, &mut *buffer)
        .map_err(|_| KeystoreError::Corrupt("the secret is too long to encrypt".to_owned()))?;
    Ok(SealedSecret {
        format: FORMAT,
        purpose: purpose.to_owned(),
        kdf,
        salt,
        nonce,
        ciphertext: buffer.to_vec(),
    })
}

impl SealedSecret {
    /// Opens the secret; fails if the passphrase is wrong, the file was altered, or it is
    /// not a `purpose` secret.
    pub fn open(
        &self,
        purpose: &str,
        passphrase: &SecretString,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        if self.format != FORMAT {
            return Err(KeystoreError::UnsupportedFormat(self.format));
        }
        if self.purpose != purpose {
            return Err(KeystoreError::WrongPurpose {
                expected: purpose.to_owned(),
                found: self.purpose.clone(),
            });
        }
        let key = derive_key(passphrase, &self.kdf, &self.salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let aad = associated_data(self.format, &self.purpose, &self.kdf, &self.salt);
        // The tag is checked before anything is decrypted; the plaintext only ever lives
        // in this zeroizing buffer.
        let mut buffer = Zeroizing::new(self.ciphertext.clone());
        cipher
            .decrypt_in_place(XNonce::from_slice(&self.nonce), &aad, &mut *buffer)
            .map_err(|_| KeystoreError::WrongPassphraseOrCorrupt)?;
        Ok(buffer)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<SealedSecret, KeystoreError> {
        serde_json::from_str(text).map_err(|e| KeystoreError::Corrupt(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn sealed() -> SealedSecret {
        seal(
            "test-secret",
            b"the seed",
            &pass("correct horse"),
            KdfParams::DANGEROUS_WEAK_FOR_TESTS,
            [7; 16],
            [9; 24],
        )
        .unwrap()
    }

    #[test]
    fn wrong_passphrase_and_every_edit_fail() {
        let s = sealed();
        assert_eq!(
            s.open("test-secret", &pass("wrong")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        );
        let mut e = s.clone();
        e.salt[0] ^= 1;
        assert_eq!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        );
        let mut e = s.clone();
        e.nonce[0] ^= 1;
        assert_eq!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        );
        let mut e = s.clone();
        e.kdf.iterations += 1;
        assert_eq!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        );
        let mut e = s.clone();
        e.ciphertext[0] ^= 1;
        assert_eq!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        );
        let mut e = s.clone();
        e.ciphertext.truncate(3);
        assert_eq!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        );
        let mut e = s.clone();
        e.purpose = "other".to_owned();
        assert!(matches!(
            e.open("other", &pass("correct horse")),
            Err(KeystoreError::WrongPassphraseOrCorrupt)
        ));
        assert!(matches!(
            s.open("other", &pass("correct horse")),
            Err(KeystoreError::WrongPurpose { .. })
        ));
        let mut e = s.clone();
        e.format = 2;
        assert_eq!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::UnsupportedFormat(2))
        );
        let mut e = s;
        e.kdf.memory_kib = 1;
        assert!(matches!(
            e.open("test-secret", &pass("correct horse")),
            Err(KeystoreError::Kdf(_))
        ));
        assert!(matches!(
            SealedSecret::from_json("{\"format\":1"),
            Err(KeystoreError::Corrupt(_))
        ));
    }

    #[test]
    fn nothing_secret_in_debug_or_errors() {
        let p = pass("correct horse");
        assert!(!format!("{p:?}").contains("correct horse"));
        let s = sealed();
        let debug = format!("{s:?}");
        assert!(!debug.contains("the seed"));
        let err = s.open("test-secret", &pass("nope")).unwrap_err();
        assert!(!err.to_string().contains("nope") && !format!("{err:?}").contains("nope"));
    }
}
