//! BIP341 wallet test vectors: taproot output keys, tweaks, merkle roots, leaf hashes and
//! control blocks; every key-path sighash; and the fully signed transaction checked with
//! Bitcoin Core's interpreter.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::str::FromStr;

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{schnorr, Message, Secp256k1, SecretKey, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::taproot::{LeafVersion, TapLeafHash, TapNodeHash, TapTweakHash, TaprootBuilder};
use bitcoin::{Amount, ScriptBuf, TapSighashType, Transaction, TxOut};
use serde_json::Value;
use sluice_shared::consensus::verify_transaction;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/bip341_wallet_vectors.json")).unwrap()
}

fn leaves(tree: &Value, depth: u8, out: &mut Vec<(u8, ScriptBuf, LeafVersion)>) {
    match tree {
        Value::Null => {}
        Value::Array(branches) => branches.iter().for_each(|b| leaves(b, depth + 1, out)),
        leaf => out.push((
            depth,
            ScriptBuf::from_hex(leaf["script"].as_str().unwrap()).unwrap(),
            LeafVersion::from_consensus(u8::try_from(leaf["leafVersion"].as_u64().unwrap()).unwrap())
                .unwrap(),
        )),
    }
}

fn hex_list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn script_pubkeys_tweaks_and_control_blocks() {
    let secp = Secp256k1::verification_only();
    let cases = vectors()["scriptPubKey"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 7);
    for (i, case) in cases.iter().enumerate() {
        let internal = XOnlyPublicKey::from_str(case["internalPubkey"].as_str().unwrap()).unwrap();
        let mut found = Vec::new();
        // A single leaf sits at depth 0; branches add a level.
        leaves(&case["scriptTree"], 0, &mut found);
        let merkle_root = if found.is_empty() {
            None
        } else {
            let mut builder = TaprootBuilder::new();
            for (depth, script, version) in &found {
                builder = builder
                    .add_leaf_with_ver(*depth, script.clone(), *version)
                    .unwrap();
            }
            let info = builder.finalize(&secp, internal).unwrap();
            for ((_, script, version), expected) in found.iter().zip(hex_list(&case["controlBlocks"])) {
                let control = info.control_block(&(script.clone(), *version)).unwrap();
                assert_eq!(
                    hex::encode(control.serialize()),
                    expected,
                    "case {i} control block"
                );
            }
            info.merkle_root()
        };
        let leaf_hashes: Vec<String> = found
            .iter()
            .map(|(_, s, v)| TapLeafHash::from_script(s, *v).to_string())
            .collect();
        assert_eq!(leaf_hashes, hex_list(&case["leafHashes"]), "case {i} leaf hashes");
        assert_eq!(
            merkle_root.map(|r| r.to_string()),
            case["merkleRoot"].as_str().map(str::to_owned),
            "case {i} merkle root"
        );
        let tweak = TapTweakHash::from_key_and_tweak(internal, merkle_root);
        assert_eq!(
            tweak.to_string(),
            case["tweak"].as_str().unwrap(),
            "case {i} tweak"
        );
        let (output_key, _) = internal.tap_tweak(&secp, merkle_root);
        assert_eq!(
            output_key.to_string(),
            case["tweakedPubkey"].as_str().unwrap(),
            "case {i} tweaked key"
        );
        let spk = ScriptBuf::new_p2tr_tweaked(output_key);
        assert_eq!(
            spk.to_hex_string(),
            format!("5120{}", case["tweakedPubkey"].as_str().unwrap()),
            "case {i} scriptPubKey"
        );
    }
}

fn key_path() -> (Transaction, Vec<TxOut>, Value) {
    let kps = vectors()["keyPathSpending"].clone();
    let tx: Transaction = deserialize_hex(kps["rawUnsignedTx"].as_str().unwrap()).unwrap();
    let utxos = kps["utxosSpent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| TxOut {
            script_pubkey: ScriptBuf::from_hex(u[0].as_str().unwrap()).unwrap(),
            value: Amount::from_sat(u[1].as_u64().unwrap()),
        })
        .collect();
    (tx, utxos, kps)
}

#[test]
fn key_path_sighashes_tweaked_keys_and_signatures() {
    let secp = Secp256k1::new();
    let (tx, utxos, kps) = key_path();
    let mut cache = SighashCache::new(&tx);
    let inputs = kps["inputSpending"].as_array().unwrap();
    assert_eq!(inputs.len(), 7);
    for input in inputs {
        let index = usize::try_from(input["txinIndex"].as_u64().unwrap()).unwrap();
        let hash_type =
            TapSighashType::from_consensus_u8(u8::try_from(input["hashType"].as_u64().unwrap()).unwrap())
                .unwrap();
        let sighash = cache
            .taproot_key_spend_signature_hash(index, &Prevouts::All(&utxos), hash_type)
            .unwrap();
        assert_eq!(
            sighash.to_string(),
            input["sigHash"].as_str().unwrap(),
            "input {index} sighash"
        );

        let secret = SecretKey::from_str(input["internalPrivkey"].as_str().unwrap()).unwrap();
        let merkle_root = input["merkleRoot"]
            .as_str()
            .map(|r| TapNodeHash::from_str(r).unwrap());
        let tweaked = Keypair::from_secret_key(&secp, &secret).tap_tweak(&secp, merkle_root);
        assert_eq!(
            hex::encode(tweaked.to_keypair().secret_bytes()),
            input["tweakedPrivkey"].as_str().unwrap(),
            "input {index} tweaked key"
        );

        let witness = hex::decode(input["witness"].as_str().unwrap()).unwrap();
        let signature = schnorr::Signature::from_slice(&witness[..64]).unwrap();
        let message = Message::from_digest(sighash.to_byte_array());
        secp.verify_schnorr(&signature, &message, &tweaked.to_keypair().x_only_public_key().0)
            .unwrap();
        if witness.len() == 65 {
            assert_eq!(
                witness[64], hash_type as u8,
                "input {index}: sighash byte appended"
            );
        }
    }
}

#[test]
fn the_fully_signed_transaction_passes_bitcoin_cores_interpreter() {
    let (unsigned, utxos, kps) = key_path();
    let signed: Transaction = deserialize_hex(kps["fullySignedTx"].as_str().unwrap()).unwrap();
    // Input 2 is P2PKH: its scriptSig changes the txid, so compare what was signed.
    let prevouts = |t: &Transaction| t.input.iter().map(|i| i.previous_output).collect::<Vec<_>>();
    assert_eq!(prevouts(&signed), prevouts(&unsigned));
    assert_eq!(signed.output, unsigned.output);
    verify_transaction(&signed, &utxos).unwrap();
    // A flipped bit in any witness signature is caught.
    let mut broken = signed.clone();
    let mut items: Vec<Vec<u8>> = broken.input[0].witness.iter().map(<[u8]>::to_vec).collect();
    items[0][10] ^= 1;
    broken.input[0].witness = bitcoin::Witness::from_slice(&items);
    assert!(verify_transaction(&broken, &utxos).is_err());
}
