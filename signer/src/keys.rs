//! The signer's secret: a BIP39 seed or a master xprv, sealed in `keystore.json` together
//! with the settings that must not be tampered with (network, officer keys, threshold).
//!
//! Decrypted only to sign, to show public keys, or to check a limit command; the master
//! key is erased when the [`KeyMaterial`] is dropped and never printed.

use std::fmt;
use std::io;
use std::str::FromStr;

use bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use bitcoin::{Network, NetworkKind};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_shared::identity::{tagged_hash, SignerId, SIGNER_IDENTITY_PATH, SIGNER_TOR_KEY_PATH};
use sluice_shared::keystore::{seal, KdfParams, KeystoreError, SealedSecret};
use sluice_shared::keystore_policy::{check_kdf, check_new_passphrase, KeystorePolicyError};
use sluice_shared::limit_command::{OfficerSet, OfficerSetError};
use sluice_shared::network::{network_name, parse_network};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::home::{Home, HomeError};
use crate::signing::MasterKey;

/// Purpose label authenticated inside the keystore file.
pub const KEYSTORE_PURPOSE: &str = "sluice-signer-seed";

/// Why keys could not be created, opened or derived. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the mnemonic is not valid BIP39 ({0}): check the words and their order")]
    BadMnemonic(String),
    #[error("the extended private key does not parse: {0}")]
    BadXprv(String),
    #[error("the extended private key is for {found}, but the signer is being set up for {expected}")]
    XprvWrongNetwork { expected: String, found: String },
    #[error("give the master key (depth 0), not a key derived at depth {0}")]
    XprvNotMaster(u8),
    #[error("officer key {key:?} is not a 32-byte x-only public key in hex")]
    BadOfficerKey { key: String },
    #[error("officer key {key} is given twice")]
    DuplicateOfficerKey { key: String },
    #[error("--officer-threshold needs at least one --officer-key")]
    ThresholdWithoutOfficers,
    #[error("officer keys: {0}")]
    Officers(#[from] OfficerSetError),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("opening {path}: {source}")]
    Keystore {
        path: String,
        #[source]
        source: KeystoreError,
    },
    #[error("{path} holds unreadable contents: {reason}")]
    Contents { path: String, reason: String },
    #[error("cannot derive the key at {path}: {reason}")]
    Derivation { path: String, reason: String },
    #[error(transparent)]
    Policy(#[from] KeystorePolicyError),
    #[error(transparent)]
    Home(#[from] HomeError),
}

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
    /// A master extended private key read from a file.
    Xprv(Zeroizing<String>),
}

/// The unlocked signer: master key and the sealed settings.
pub struct KeyMaterial {
    master: MasterKey,
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

fn master_from(secret: &SeedSecret, network: Network) -> Result<Xpriv, KeyError> {
    match secret {
        SeedSecret::Mnemonic { words } => {
            let mnemonic =
                bip39::Mnemonic::parse_normalized(words).map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
            let seed = Zeroizing::new(mnemonic.to_seed_normalized(""));
            Xpriv::new_master(network, seed.as_ref()).map_err(|e| KeyError::Derivation {
                path: "m".to_owned(),
                reason: e.to_string(),
            })
        }
        SeedSecret::Xprv { xprv } => {
            let key = sluice_shared::extended_key::parse_xpriv(xprv)
                .map_err(|e| KeyError::BadXprv(e.to_string()))?;
            if key.network != NetworkKind::from(network) {
                return Err(KeyError::XprvWrongNetwork {
                    expected: network_name(network).to_owned(),
                    found: match key.network {
                        NetworkKind::Main => "mainnet (xprv)".to_owned(),
                        NetworkKind::Test => "a test network (tprv)".to_owned(),
                    },
                });
            }
            if key.depth != 0 {
                return Err(KeyError::XprvNotMaster(key.depth));
            }
            Ok(key)
        }
    }
}

fn parse_officers(keys: &[String], threshold: usize) -> Result<OfficerSet, KeyError> {
    let mut parsed = Vec::with_capacity(keys.len());
    for key in keys {
        let k =
            XOnlyPublicKey::from_str(key.trim()).map_err(|_| KeyError::BadOfficerKey { key: key.clone() })?;
        if parsed.contains(&k) {
            return Err(KeyError::DuplicateOfficerKey { key: key.clone() });
        }
        parsed.push(k);
    }
    if parsed.is_empty() {
        if threshold != 0 {
            return Err(KeyError::ThresholdWithoutOfficers);
        }
        // No officers: the limits set at `limits init` can never be raised.
        return Ok(OfficerSet {
            keys: parsed,
            threshold: 0,
        });
    }
    OfficerSet::new(parsed, threshold).map_err(KeyError::Officers)
}

fn fresh_mnemonic() -> Result<Zeroizing<String>, KeyError> {
    let mut entropy = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(entropy.as_mut());
    let mnemonic =
        bip39::Mnemonic::from_entropy(entropy.as_ref()).map_err(|e| KeyError::BadMnemonic(e.to_string()))?;
    Ok(Zeroizing::new(mnemonic.to_string()))
}

/// What a new keystore must meet: the weak test KDF only on regtest or signet, and a
/// passphrase that is not trivially guessed. `create` checks it; `init` checks it first,
/// before anything is written.
pub fn check_new_keystore(
    network: Network,
    kdf: &KdfParams,
    passphrase: &SecretString,
) -> Result<(), KeyError> {
    check_kdf(kdf, network)?;
    check_new_passphrase(passphrase)?;
    Ok(())
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
) -> Result<(KeyMaterial, Option<Zeroizing<String>>), KeyError> {
    check_new_keystore(network, &kdf, passphrase)?;
    let officers = parse_officers(officer_keys, officer_threshold)?;
    let (secret, shown) = match source {
        SeedSource::Generate => {
            let words = fresh_mnemonic()?;
            let secret = SeedSecret::Mnemonic {
                words: words.to_string(),
            };
            (secret, Some(words))
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
    let master = MasterKey::new(master_from(&secret, network)?);
    let contents = SealedContents {
        network: network_name(network).to_owned(),
        secret,
        officer_keys: officers.keys.iter().map(|k| k.to_string()).collect(),
        officer_threshold: officers.threshold,
    };
    let path = home.keystore();
    let plaintext = Zeroizing::new(serde_json::to_vec(&contents).map_err(|e| KeyError::Contents {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?);
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = seal(KEYSTORE_PURPOSE, &plaintext, passphrase, kdf, salt, nonce).map_err(|source| {
        KeyError::Keystore {
            path: path.display().to_string(),
            source,
        }
    })?;
    sluice_fsutil::write_file(
        &path,
        sealed.to_json().as_bytes(),
        sluice_fsutil::Access::OwnerOnly,
        sluice_fsutil::Existing::Refuse,
    )
    .map_err(HomeError::from)?;
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
pub fn unlock(home: &Home, passphrase: &SecretString) -> Result<KeyMaterial, KeyError> {
    let path = home.keystore();
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    let keystore_error = |source| KeyError::Keystore {
        path: shown.clone(),
        source,
    };
    let sealed = SealedSecret::from_json(&text).map_err(keystore_error)?;
    let plaintext = sealed
        .open(KEYSTORE_PURPOSE, passphrase)
        .map_err(keystore_error)?;
    let contents: SealedContents = serde_json::from_slice(&plaintext).map_err(|e| KeyError::Contents {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let network = parse_network(&contents.network).map_err(|e| KeyError::Contents {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    // The KDF parameters are authenticated with the contents: this is the KDF that sealed
    // this network's keys.
    check_kdf(&sealed.kdf, network)?;
    let master = MasterKey::new(master_from(&contents.secret, network)?);
    let officers = parse_officers(&contents.officer_keys, contents.officer_threshold)?;
    Ok(KeyMaterial {
        master,
        network,
        officers,
    })
}

/// Parses `84h/1h/0h` (or `m/84'/1'/0'`) as a path below the master key.
pub fn parse_path(text: &str) -> Result<DerivationPath, KeyError> {
    let trimmed = text.trim().trim_start_matches("m/");
    DerivationPath::from_str(&format!("m/{trimmed}")).map_err(|e| KeyError::Derivation {
        path: text.to_owned(),
        reason: format!("{e}; write it like 84h/1h/0h"),
    })
}

/// A path as `84h/1h/0h`: the form descriptors and `[fingerprint/path]xpub` use.
pub fn path_text(path: &DerivationPath) -> String {
    path.into_iter()
        .map(|step| match step {
            bitcoin::bip32::ChildNumber::Normal { index } => index.to_string(),
            bitcoin::bip32::ChildNumber::Hardened { index } => format!("{index}h"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl KeyMaterial {
    pub fn network(&self) -> Network {
        self.network
    }

    pub fn officers(&self) -> &OfficerSet {
        &self.officers
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.master.fingerprint()
    }

    /// The extended public key at `path` below the master key.
    pub fn xpub_at(&self, path: &DerivationPath) -> Result<Xpub, KeyError> {
        let secp = Secp256k1::signing_only();
        let child = self
            .master
            .derive(&secp, path)
            .map_err(|e| KeyError::Derivation {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Xpub::from_priv(&secp, child.expose()))
    }

    /// `[fingerprint/path]xpub`, what the coordinator composes wallets from.
    pub fn key_expression(&self, path: &DerivationPath) -> Result<String, KeyError> {
        Ok(format!(
            "[{}/{}]{}",
            self.fingerprint(),
            path_text(path),
            self.xpub_at(path)?
        ))
    }

    /// The identity key that names this signer (and authenticates it online).
    pub fn identity_key(&self) -> Result<XOnlyPublicKey, KeyError> {
        Ok(self.identity_keypair()?.x_only_public_key().0)
    }

    /// The identity key pair, to sign online requests. Held only while the online loop
    /// runs; the keystore's master key is the secret that matters, and it is erased with
    /// this `KeyMaterial`.
    pub fn identity_keypair(&self) -> Result<bitcoin::secp256k1::Keypair, KeyError> {
        let path = DerivationPath::from_str(SIGNER_IDENTITY_PATH).map_err(|e| KeyError::Derivation {
            path: SIGNER_IDENTITY_PATH.to_owned(),
            reason: e.to_string(),
        })?;
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let child = self
            .master
            .derive(&secp, &path)
            .map_err(|e| KeyError::Derivation {
                path: SIGNER_IDENTITY_PATH.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(child.expose().to_keypair(&secp))
    }

    /// Stealth mode: the secret of this signer's restricted-discovery (x25519) key, derived
    /// from the sealed master key, so it is kept exactly as safe as the other secrets and
    /// exists for every signer without a new file. Held only while the online loop runs.
    pub fn tor_discovery_secret(&self) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let path = DerivationPath::from_str(SIGNER_TOR_KEY_PATH).map_err(|e| KeyError::Derivation {
            path: SIGNER_TOR_KEY_PATH.to_owned(),
            reason: e.to_string(),
        })?;
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let child = self
            .master
            .derive(&secp, &path)
            .map_err(|e| KeyError::Derivation {
                path: SIGNER_TOR_KEY_PATH.to_owned(),
                reason: e.to_string(),
            })?;
        let secret = Zeroizing::new(child.expose().private_key.secret_bytes());
        Ok(Zeroizing::new(tagged_hash(
            "sluice/tor-discovery-key",
            &secret[..],
        )))
    }

    pub fn signer_id(&self) -> Result<SignerId, KeyError> {
        Ok(SignerId::from_identity_key(&self.identity_key()?))
    }

    /// The key that authenticates this signer's state (issue 8 item 3): derived from the
    /// master private key and chain code, so only the unlocked keystore gives it.
    pub fn state_key(&self) -> crate::state::StateKey {
        let mut material = Zeroizing::new([0u8; 64]);
        material[..32].copy_from_slice(&self.master.expose().private_key.secret_bytes());
        material[32..].copy_from_slice(self.master.expose().chain_code.as_bytes());
        crate::state::StateKey::derive(material.as_ref())
    }

    /// The master key with the branch keys signings derived from it, for the signing
    /// module only.
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.master
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    /// BIP32 test vector 1's master key (fingerprint 3442193e), as a tprv.
    fn tprv() -> String {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        Xpriv::new_master(Network::Regtest, &seed).unwrap().to_string()
    }

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        home.create().unwrap();
        (dir, home)
    }

    #[test]
    fn sealed_keys_reopen_only_with_the_passphrase_and_paths_print_as_descriptors_do() {
        let (_dir, home) = home();
        let pass = SecretString::from("test passphrase".to_owned());
        let source = SeedSource::Xprv(Zeroizing::new(tprv()));
        let (keys, shown) = create(
            &home,
            Network::Regtest,
            source,
            &[],
            0,
            &pass,
            KdfParams::DANGEROUS_WEAK_FOR_TESTS,
        )
        .unwrap();
        assert!(shown.is_none());
        assert_eq!(keys.fingerprint().to_string(), "3442193e");
        let path = parse_path("84'/1'/0'").unwrap();
        let expr = keys.key_expression(&path).unwrap();
        assert!(expr.starts_with("[3442193e/84h/1h/0h]tpub"), "{expr}");
        let again = unlock(&home, &pass).unwrap();
        assert_eq!(again.key_expression(&path).unwrap(), expr);
        let err = unlock(&home, &SecretString::from("wrong".to_owned())).unwrap_err();
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
        assert!(!format!("{again:?}").contains("tprv"));
    }

    #[test]
    fn tor_discovery_secret_is_derived_from_the_sealed_seed_and_stable() {
        let (_dir, home) = home();
        let pass = SecretString::from("test passphrase".to_owned());
        let source = SeedSource::Xprv(Zeroizing::new(tprv()));
        let (keys, _) = create(
            &home,
            Network::Regtest,
            source,
            &[],
            0,
            &pass,
            KdfParams::DANGEROUS_WEAK_FOR_TESTS,
        )
        .unwrap();
        let secret = keys.tor_discovery_secret().unwrap();
        assert_eq!(
            *unlock(&home, &pass).unwrap().tor_discovery_secret().unwrap(),
            *secret
        );
        // Not the identity key's secret, and not a wallet key.
        assert_ne!(*secret, keys.identity_keypair().unwrap().secret_bytes());
        assert_ne!(*secret, [0u8; 32]);
    }

    /// A keystore sealed with the weak test KDF for a real network (made by hand: `create`
    /// refuses to make one) is refused when opened, even with the right passphrase.
    #[test]
    fn a_weak_kdf_keystore_for_a_real_network_is_refused_at_open() {
        for (network, fine) in [("bitcoin", false), ("testnet", false), ("regtest", true)] {
            let (_dir, home) = home();
            let pass = SecretString::from("test passphrase".to_owned());
            let contents = SealedContents {
                network: network.to_owned(),
                secret: SeedSecret::Mnemonic {
                    words: "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about".to_owned(),
                },
                officer_keys: Vec::new(),
                officer_threshold: 0,
            };
            let plaintext = serde_json::to_vec(&contents).unwrap();
            let sealed = seal(
                KEYSTORE_PURPOSE,
                &plaintext,
                &pass,
                KdfParams::DANGEROUS_WEAK_FOR_TESTS,
                [1; 16],
                [2; 24],
            )
            .unwrap();
            std::fs::write(home.keystore(), sealed.to_json()).unwrap();
            match unlock(&home, &pass) {
                Ok(_) => assert!(fine, "{network}: a weak-KDF keystore was opened"),
                Err(e) => {
                    assert!(!fine, "{network}: {e}");
                    assert!(e.to_string().contains("regtest or signet"), "{network}: {e}");
                }
            }
        }
    }

    #[test]
    fn restores_refuse_keys_that_do_not_fit() {
        let (_dir, home) = home();
        let pass = SecretString::from("test passphrase".to_owned());
        let mainnet = create(
            &home,
            Network::Bitcoin,
            SeedSource::Xprv(Zeroizing::new(tprv())),
            &[],
            0,
            &pass,
            KdfParams::RECOMMENDED,
        );
        assert!(matches!(mainnet, Err(KeyError::XprvWrongNetwork { .. })));
        let words = create(
            &home,
            Network::Regtest,
            SeedSource::Mnemonic(Zeroizing::new("abandon abandon".to_owned())),
            &[],
            0,
            &pass,
            KdfParams::DANGEROUS_WEAK_FOR_TESTS,
        );
        assert!(matches!(words, Err(KeyError::BadMnemonic(_))));
        assert!(matches!(
            parse_officers(&["zz".to_owned()], 1),
            Err(KeyError::BadOfficerKey { .. })
        ));
        let key = "d69c3509bb99e412e68b0fe8544e72837dfa30746d8be2aa65975f29d22dc7b9".to_owned();
        assert!(matches!(
            parse_officers(&[key.clone(), key.clone()], 1),
            Err(KeyError::DuplicateOfficerKey { .. })
        ));
        assert!(matches!(
            parse_officers(std::slice::from_ref(&key), 2),
            Err(KeyError::Officers(OfficerSetError::BadThreshold { .. }))
        ));
        assert!(matches!(
            parse_officers(&[], 1),
            Err(KeyError::ThresholdWithoutOfficers)
        ));
        assert_eq!(parse_officers(&[key], 1).unwrap().threshold, 1);
    }
}
