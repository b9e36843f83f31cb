#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! BIP32's test vectors (tests/data/bip32_vectors.json) through `bitcoin::bip32`, the
//! BIP32 implementation Sluice builds on: private derivation from the seed, public
//! derivation where the path allows it (also through `DerivedKeys`, the table of derived
//! keys inspection and addresses use), serialization both ways, and refusal of every
//! invalid key of test vector 5 by Sluice's strict parsers (see
//! `sluice_shared::extended_key`).

use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::NetworkKind;
use serde_json::Value;
use sluice_shared::derived_keys::DerivedKeys;
use sluice_shared::descriptor::{DescriptorError, WalletDescriptor};
use sluice_shared::extended_key::{parse_xpriv, parse_xpub};

const VECTORS: &str = include_str!("data/bip32_vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}

#[test]
fn derivation_from_seed_matches_every_chain() {
    let secp = Secp256k1::new();
    let all = vectors();
    let list = all["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    let mut checked = 0;
    for vector in list {
        let seed = hex::decode(text(&vector["seed"])).unwrap();
        let master = Xpriv::new_master(NetworkKind::Main, &seed).unwrap();
        let mut parent: Option<Xpub> = None;
        for chain in vector["chains"].as_array().unwrap() {
            let path = DerivationPath::from_str(&text(&chain["path"]).replace('H', "h")).unwrap();
            let xprv = master.derive_priv(&secp, &path).unwrap();
            let xpub = Xpub::from_priv(&secp, &xprv);
            assert_eq!(xprv.to_string(), text(&chain["xprv"]), "{path}");
            assert_eq!(xpub.to_string(), text(&chain["xpub"]), "{path}");
            assert_eq!(Xpriv::from_str(text(&chain["xprv"])).unwrap(), xprv);
            assert_eq!(Xpub::from_str(text(&chain["xpub"])).unwrap(), xpub);

            // CKDpub: an unhardened step is derivable from the parent's xpub alone, and a
            // hardened one is not.
            if let (Some(parent), Some(step)) = (parent, path.into_iter().last()) {
                match step {
                    ChildNumber::Normal { index } => {
                        assert_eq!(parent.ckd_pub(&secp, *step).unwrap(), xpub, "{path}");
                        // Through the table inspection compares scripts with.
                        let table = DerivedKeys::new(16);
                        assert_eq!(table.child(&parent, *index).unwrap(), xpub.public_key, "{path}");
                    }
                    ChildNumber::Hardened { .. } => assert!(parent.ckd_pub(&secp, *step).is_err()),
                }
            }
            parent = Some(xpub);
            checked += 1;
        }
    }
    assert_eq!(checked, 17);
}

/// `bitcoin::bip32` 0.32 alone accepts 7 of these 16 keys (master keys with a parent, xprv
/// key data without its 0x00 byte); Sluice's strict parsers refuse all of them.
#[test]
fn every_invalid_key_of_test_vector_5_is_refused() {
    let all = vectors();
    let invalid = all["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 16);
    for case in invalid {
        let key = text(&case["key"]);
        let reason = text(&case["reason"]);
        assert!(parse_xpub(key).is_err(), "accepted as xpub ({reason}): {key}");
        assert!(parse_xpriv(key).is_err(), "accepted as xprv ({reason}): {key}");

        // A transcription slip would fail the base58 checksum instead of the intended rule.
        let checksum_failure = |e: bitcoin::bip32::Error| {
            matches!(
                e,
                bitcoin::bip32::Error::Base58(bitcoin::base58::Error::IncorrectChecksum(_))
            )
        };
        let failed_on_checksum = Xpub::from_str(key).err().is_some_and(checksum_failure)
            || Xpriv::from_str(key).err().is_some_and(checksum_failure);
        assert_eq!(
            failed_on_checksum,
            reason == "invalid checksum",
            "{reason}: {key}"
        );
    }
}

#[test]
fn a_descriptor_with_an_invalid_master_xpub_is_refused() {
    // Test vector 5's master xpub with a non-zero parent fingerprint, as a wallet key.
    let key = "xpub661no6RGEX3uJkY4bNnPcw4URcQTrSibUZ4NqJEw5eBkv7ovTwgiT91XX27VbEXGENhYRCf7hyEbWrR3FewATdCEebj6znwMfQkhRYHRLpJ";
    let fingerprint = Xpub::from_str(key).unwrap().fingerprint();
    let descriptor = format!("wpkh([{fingerprint}]{key}/<0;1>/*)");
    assert!(matches!(
        WalletDescriptor::parse(&descriptor, None),
        Err(DescriptorError::Parse(_))
    ));
}
