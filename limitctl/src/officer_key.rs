//! The officer's signing key: a BIP340 secret key sealed with the shared keystore
//! (XChaCha20-Poly1305 under Argon2id) in `officer-key.json` in the home directory.
//!
//! The public key is always derived from the sealed secret, never read from a plain file:
//! an officer registers that key on every signer, so a key file someone could swap on disk
//! would let them slip their own key into the signers' trust.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey, XOnlyPublicKey};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;
use sluice_shared::identity::officer_key_fingerprint;
use sluice_shared::keystore::{seal, KdfParams, SealedSecret};
use zeroize::Zeroizing;

/// The keystore purpose string: a signer seed or other secret cannot be passed off as an
/// officer key, nor the other way round.
pub const PURPOSE: &str = "limitctl-officer-key";
const KEY_FILE: &str = "officer-key.json";

/// The officer's home directory (`--home DIR`).
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    fn create(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", self.dir.display()))
    }
}

/// An unlocked officer key. Its secret is wiped when dropped and never printed.
pub struct OfficerKey {
    keypair: Keypair,
}

impl fmt::Debug for OfficerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfficerKey")
            .field("public", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Drop for OfficerKey {
    fn drop(&mut self) {
        self.keypair.non_secure_erase();
    }
}

impl OfficerKey {
    fn from_secret_bytes(bytes: &[u8]) -> Result<OfficerKey> {
        let secret = SecretKey::from_slice(bytes)
            .map_err(|_| anyhow::anyhow!("the keystore does not hold a valid officer key"))?;
        Ok(OfficerKey {
            keypair: Keypair::from_secret_key(&Secp256k1::signing_only(), &secret),
        })
    }

    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    pub fn public_key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    pub fn fingerprint(&self) -> String {
        officer_key_fingerprint(&self.public_key())
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

/// Makes a new key from the operating system's randomness and seals it in `home`;
/// refuses if a key is there already (it may be the only copy of a registered key).
pub fn generate(home: &Home, passphrase: &SecretString, kdf: KdfParams) -> Result<OfficerKey> {
    let path = home.key_file();
    if path.symlink_metadata().is_ok() {
        bail!(
            "{} already exists: refusing to overwrite an officer key (signers may trust it); \
             use another --home for a new key",
            path.display()
        );
    }
    let secret = loop {
        let candidate = Zeroizing::new(random::<32>());
        // Fails only for zero or a value above the curve order: about 2^-128.
        if SecretKey::from_slice(candidate.as_ref()).is_ok() {
            break candidate;
        }
    };
    let key = OfficerKey::from_secret_bytes(secret.as_ref())?;
    let sealed = seal(PURPOSE, secret.as_ref(), passphrase, kdf, random(), random())
        .context("sealing the officer key")?;
    home.create()?;
    sluice_fsutil::write_file(
        &path,
        sealed.to_json().as_bytes(),
        sluice_fsutil::Access::OwnerOnly,
        sluice_fsutil::Existing::Refuse,
    )?;
    Ok(key)
}

/// Opens the sealed key in `home`.
pub fn unlock(home: &Home, passphrase: &SecretString) -> Result<OfficerKey> {
    let path = home.key_file();
    let text = read_key_file(&path)?;
    let sealed = SealedSecret::from_json(&text)
        .with_context(|| format!("reading the officer keystore {}", path.display()))?;
    let secret = sealed
        .open(PURPOSE, passphrase)
        .with_context(|| format!("opening the officer keystore {}", path.display()))?;
    OfficerKey::from_secret_bytes(&secret)
}

fn read_key_file(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no officer key at {}: run `limitctl keygen` first (or give the right --home)",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
