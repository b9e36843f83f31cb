//! A secp256k1 secret key in a file of its own: 64 hex digits, created 0600 next to the
//! database and never overwritten, refused when anyone but the owner can read it. The
//! coordinator's identity key and its audit key are both kept this way.

use std::path::Path;

use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
use rand::RngCore;
use sluice_fsutil::{write_file, Access, Existing, WriteError};
use zeroize::Zeroizing;

/// Why a key file could not be created or read. The caller names which key it was.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("no key file at {path}")]
    Missing { path: String },
    #[error("reading the key file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is readable by others (mode {mode:o}): a key file must be 0600; run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    #[error("{path} does not hold a secret key (64 hex digits)")]
    Malformed { path: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A fresh key pair from `rng`.
pub fn generate(rng: &mut impl RngCore) -> Keypair {
    let secp = Secp256k1::signing_only();
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut bytes[..]);
        // Fails only for zero or a value above the curve order: about 2^-128.
        if let Ok(secret) = SecretKey::from_slice(&bytes[..]) {
            return Keypair::from_secret_key(&secp, &secret);
        }
    }
}

/// Writes `keypair`'s secret to a new file at `path` (never overwrites one), creating a
/// missing directory private.
pub fn create(path: &Path, keypair: &Keypair) -> Result<(), KeyFileError> {
    let text = Zeroizing::new(format!("{}\n", hex::encode(keypair.secret_bytes())));
    sluice_fsutil::create_private_parent(path)?;
    write_file(path, text.as_bytes(), Access::OwnerOnly, Existing::Refuse)?;
    Ok(())
}

/// Reads the key file at `path`.
pub fn load(path: &Path) -> Result<Keypair, KeyFileError> {
    let shown = || path.display().to_string();
    let mode = match sluice_fsutil::mode_of(path) {
        Ok(mode) => mode,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyFileError::Missing { path: shown() })
        }
        Err(source) => {
            return Err(KeyFileError::Read {
                path: shown(),
                source,
            })
        }
    };
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen { path: shown(), mode });
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: shown(),
            source,
        })?,
    );
    let bytes =
        Zeroizing::new(hex::decode(text.trim()).map_err(|_| KeyFileError::Malformed { path: shown() })?);
    let secret = SecretKey::from_slice(&bytes).map_err(|_| KeyFileError::Malformed { path: shown() })?;
    Ok(Keypair::from_secret_key(&Secp256k1::signing_only(), &secret))
}
