//! The signer's secret: a BIP39 seed or an xprv, sealed in `keystore.json` together with
//! the settings that must not be tampered with (network, officer keys and threshold).
//!
//! Decrypted only to sign or to check a limit command; the master key is erased when the
//! [`KeyMaterial`] is dropped and never printed.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use bitcoin::{Network, NetworkKind};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_shared::identity::{SignerId, SIGNER_IDENTITY_PATH};
use sluice_shared::keystore::{seal, KdfParams, SealedSecret};
use sluice_shared::limit_command::OfficerSet;
use sluice_shared::network::{network_name, parse_network};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::home::{write_new, Home};

/// Purpose label authenticated inside the keystore file.
pub const KEYSTORE_PURPOSE: &str = "sluice-signer-seed";

/// Where the seed came from.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum SeedSecret {
    Mnemonic { words: String },
    Xprv { xprv: String },
}

/// What is sealed: the secret and the settings fixed for the signer's life.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SealedContents {
    network: String,
    secret: SeedSecret,
    officer_keys: Vec<String>,
    officer_threshold: usize,
}

/// How `init` gets its seed.
#[derive(Debug)]
pub enum SeedSource {
    /// A new 24-word mnemonic from the operating system's random generator.
    Generate,
    /// Words read from a file.
    Mnemonic(Zeroizing<String>),
    /// An extended private key read from a file.
    Xprv(Zeroizing<String>),
}

/// The unlocked signer: master key and the sealed settings.
pub struct KeyMaterial {
    master: Xpriv,
    network: Network,
    officers: OfficerSet,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("master", &"<secret>")
            .field("network", &self.network)
            .field("officers", &self.officers.keys.len())
            .finish()
    }
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.master.private_key.non_secure_erase();
        self.master.chain_code = bitcoin::bip32::ChainCode::from([0u8; 32]);
    }
}

fn master_from(secret: &SeedSecret, network: Network) -> Result<Xpriv> {
    match secret {
        SeedSecret::Mnemonic { words } => {
            let mnemonic =
                bip39::Mnemonic::parse_normalized(words).context("the mnemonic is not valid BIP39")?;
            let seed = Zeroizing::new(mnemonic.to_seed_normalized(""));
            Xpriv::new_master(network, seed.as_ref()).context("deriving the master key")
        }
        SeedSecret::Xprv { xprv } => {
            let key = Xpriv::from_str(xprv.trim()).context("the extended private key does not parse")?;
            if key.network != NetworkKind::from(network) {
                bail!(
                    "the extended private key is for another network than {}",
                    network_name(network)
                );
            }
            if key.depth != 0 {
                bail!(
                    "give the master key (depth 0), not a derived key at depth {}",
                    key.depth
                );
            }
            Ok(key)
        }
    }
}

fn parse_officers(keys: &[String], threshold: usize) -> Result<OfficerSet> {
    let mut parsed = Vec::with_capacity(keys.len());
    for key in keys {
        let k = XOnlyPublicKey::from_str(key.trim())
            .with_context(|| format!("officer key {key:?} is not a 32-byte x-only public key in hex"))?;
        if parsed.contains(&k) {
            bail!("officer key {key} is given twice");
        }
        parsed.push(k);
    }
    if parsed.is_empty() && threshold != 0 {
        bail!("--officer-threshold needs --officer-key");
    }
    if !parsed.is_empty() && (threshold == 0 || threshold > parsed.len()) {
        bail!(
            "--officer-threshold must be between 1 and the number of officer keys ({})",
            parsed.len()
        );
    }
    Ok(OfficerSet {
        keys: parsed,
        threshold,
    })
}

/// Creates and seals a new keystore. Returns the unlocked keys and, for a generated seed,
/// the mnemonic to show once.
pub fn create(
    home: &Home,
    network: Network,
    source: SeedSource,
    officer_keys: &[String],
    officer_threshold: usize,
    passphrase: &SecretString,
    kdf: KdfParams,
) -> Result<(KeyMaterial, Option<Zeroizing<String>>)> {
    let officers = parse_officers(officer_keys, officer_threshold)?;
    let (secret, shown) = match source {
        SeedSource::Generate => {
            let mut entropy = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(entropy.as_mut());
            let mnemonic = bip39::Mnemonic::from_entropy(entropy.as_ref()).context("making the mnemonic")?;
            let words = Zeroizing::new(mnemonic.to_string());
            (
                SeedSecret::Mnemonic {
                    words: words.to_string(),
                },
                Some(words),
            )
        }
        SeedSource::Mnemonic(words) => {
            let normalized = words.split_whitespace().collect::<Vec<_>>().join(" ");
            (SeedSecret::Mnemonic { words: normalized }, None)
        }
        SeedSource::Xprv(text) => (
            SeedSecret::Xprv {
                xprv: text.trim().to_owned(),
            },
            None,
        ),
    };
    let master = master_from(&secret, network)?;
    let contents = SealedContents {
        network: network_name(network).to_owned(),
        secret,
        officer_keys: officers.keys.iter().map(|k| k.to_string()).collect(),
        officer_threshold: officers.threshold,
    };
    let plaintext = Zeroizing::new(serde_json::to_vec(&contents).context("encoding the keystore")?);
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = seal(KEYSTORE_PURPOSE, &plaintext, passphrase, kdf, salt, nonce)?;
    write_new(&home.keystore(), sealed.to_json().as_bytes())?;
    Ok((
        KeyMaterial {
            master,
            network,
            officers,
        },
        shown,
    ))
}

/// Opens the keystore with the passphrase.
pub fn unlock(home: &Home, passphrase: &SecretString) -> Result<KeyMaterial> {
    let path = home.keystore();
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let sealed =
        SealedSecret::from_json(&text).with_context(|| format!("{} is not a keystore", path.display()))?;
    let plaintext = sealed
        .open(KEYSTORE_PURPOSE, passphrase)
        .with_context(|| format!("opening {}", path.display()))?;
    let contents: SealedContents = serde_json::from_slice(&plaintext)
        .with_context(|| format!("{} holds unreadable contents", path.display()))?;
    let network = parse_network(&contents.network)?;
    let master = master_from(&contents.secret, network)?;
    let officers = parse_officers(&contents.officer_keys, contents.officer_threshold)?;
    Ok(KeyMaterial {
        master,
        network,
        officers,
    })
}

impl KeyMaterial {
    pub fn network(&self) -> Network {
        self.network
    }

    pub fn officers(&self) -> &OfficerSet {
        &self.officers
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.master.fingerprint(&Secp256k1::signing_only())
    }

    /// The extended public key at `path` below the master key.
    pub fn xpub_at(&self, path: &DerivationPath) -> Result<Xpub> {
        let secp = Secp256k1::signing_only();
        let child = self.master.derive_priv(&secp, path).context("deriving the key")?;
        Ok(Xpub::from_priv(&secp, &child))
    }

    /// The identity key that names this signer (and authenticates it online).
    pub fn identity_key(&self) -> Result<XOnlyPublicKey> {
        let path = DerivationPath::from_str(SIGNER_IDENTITY_PATH).context("identity path")?;
        Ok(self.xpub_at(&path)?.public_key.x_only_public_key().0)
    }

    pub fn signer_id(&self) -> Result<SignerId> {
        Ok(SignerId::from_identity_key(&self.identity_key()?))
    }

    /// The master key, for the signing module only.
    pub(crate) fn master(&self) -> &Xpriv {
        &self.master
    }
}
