//! The officer's signing key: a BIP340 key sealed in `officer-key.json` (XChaCha20-Poly1305
//! under Argon2id, like the signer's seed), with its public half in `officer-key.pub`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey, XOnlyPublicKey};
use rand::RngCore;
use secrecy::SecretString;
use sluice_shared::keystore::{seal, KdfParams, SealedSecret};
use sluice_signer::home::write_new;
use zeroize::Zeroizing;

const PURPOSE: &str = "limitctl-officer-key";

/// Files in `--home`.
#[derive(Debug, Clone)]
pub struct OfficerHome {
    pub dir: PathBuf,
}

impl OfficerHome {
    pub fn sealed(&self) -> PathBuf {
        self.dir.join("officer-key.json")
    }
    pub fn public(&self) -> PathBuf {
        self.dir.join("officer-key.pub")
    }
}

/// Creates a new key; refuses to overwrite one.
pub fn generate(home: &OfficerHome, passphrase: &SecretString, kdf: KdfParams) -> Result<XOnlyPublicKey> {
    if home.sealed().exists() {
        bail!(
            "{} already holds an officer key: refusing to overwrite it",
            home.dir.display()
        );
    }
    std::fs::create_dir_all(&home.dir).with_context(|| format!("creating {}", home.dir.display()))?;
    let mut secret = Zeroizing::new([0u8; 32]);
    let secp = Secp256k1::new();
    let keypair = loop {
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        if let Ok(sk) = SecretKey::from_slice(secret.as_ref()) {
            break Keypair::from_secret_key(&secp, &sk);
        }
    };
    let (mut salt, mut nonce) = ([0u8; 16], [0u8; 24]);
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = seal(PURPOSE, secret.as_ref(), passphrase, kdf, salt, nonce)?;
    let public = keypair.x_only_public_key().0;
    write_new(&home.sealed(), sealed.to_json().as_bytes())?;
    write_new(&home.public(), format!("{public}\n").as_bytes())?;
    Ok(public)
}

/// The public key, without the passphrase.
pub fn public_key(home: &OfficerHome) -> Result<XOnlyPublicKey> {
    let text = std::fs::read_to_string(home.public()).with_context(|| {
        format!(
            "no officer key in {}: run `limitctl keygen` first",
            home.dir.display()
        )
    })?;
    XOnlyPublicKey::from_str(text.trim()).with_context(|| format!("{} is corrupt", home.public().display()))
}

/// Opens the sealed key and checks it matches the public file.
pub fn unlock(home: &OfficerHome, passphrase: &SecretString) -> Result<Keypair> {
    let path: &Path = &home.sealed();
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "no officer key in {}: run `limitctl keygen` first",
            home.dir.display()
        )
    })?;
    let sealed = SealedSecret::from_json(&text)
        .with_context(|| format!("{} is not an officer key file", path.display()))?;
    let secret = sealed
        .open(PURPOSE, passphrase)
        .with_context(|| format!("opening {}", path.display()))?;
    let sk = SecretKey::from_slice(&secret).context("the officer key file holds an invalid key")?;
    let keypair = Keypair::from_secret_key(&Secp256k1::new(), &sk);
    if keypair.x_only_public_key().0 != public_key(home)? {
        bail!(
            "{} does not match {}: the files were mixed up",
            home.public().display(),
            path.display()
        );
    }
    Ok(keypair)
}
