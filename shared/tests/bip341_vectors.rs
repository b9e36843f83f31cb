#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! BIP341's wallet test vectors (tests/data/bip341_wallet_vectors.json), through the
//! rust-bitcoin APIs our taproot wallets use: output key tweaking, scripts, addresses and
//! control blocks; key-path sighashes for every sighash type; signatures; and the whole
//! signed transaction through Bitcoin Core's interpreter.

use std::str::FromStr;

use bitcoin::consensus::encode::deserialize;
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::key::{Keypair, TapTweak, UntweakedPublicKey};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
use bitcoin::taproot::{LeafVersion, TapLeafHash, TapNodeHash, TaprootBuilder, TaprootSpendInfo};
use bitcoin::{Address, Amount, KnownHrp, ScriptBuf, Transaction, TxOut};
use serde_json::Value;
use sluice_shared::consensus::verify_transaction;

const VECTORS: &str = include_str!("data/bip341_wallet_vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn hex_of(value: &Value) -> &str {
    value.as_str().unwrap()
}

/// Leaves of a JSON script tree in depth-first order, with their depth and id.
fn leaves(tree: &Value, depth: u8, out: &mut Vec<(u8, u64, ScriptBuf, LeafVersion)>) {
    match tree {
        Value::Array(branches) => {
            for branch in branches {
                leaves(branch, depth + 1, out);
            }
        }
        Value::Object(leaf) => {
            let version = u8::try_from(leaf["leafVersion"].as_u64().unwrap()).unwrap();
            out.push((
                depth,
                leaf["id"].as_u64().unwrap(),
                ScriptBuf::from_bytes(bytes(&leaf["script"])),
                LeafVersion::from_consensus(version).unwrap(),
            ));
        }
        _ => {}
    }
}

#[test]
fn script_pubkeys_addresses_and_control_blocks() {
    let secp = Secp256k1::verification_only();
    let cases = vectors()["scriptPubKey"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 7);
    for case in &cases {
        let given = &case["given"];
        let internal = UntweakedPublicKey::from_str(hex_of(&given["internalPubkey"])).unwrap();
        let mut tree_leaves = Vec::new();
        match &given["scriptTree"] {
            Value::Null => {}
            // A single leaf is the whole tree, at depth 0.
            leaf @ Value::Object(_) => leaves(leaf, 0, &mut tree_leaves),
            branches => leaves(branches, 0, &mut tree_leaves),
        }
        let info = if tree_leaves.is_empty() {
            TaprootSpendInfo::new_key_spend(&secp, internal, None)
        } else {
            let mut builder = TaprootBuilder::new();
            for (depth, _, script, version) in &tree_leaves {
                builder = builder
                    .add_leaf_with_ver(*depth, script.clone(), *version)
                    .unwrap();
            }
            builder.finalize(&secp, internal).unwrap()
        };

        let intermediary = &case["intermediary"];
        let expected = &case["expected"];
        match &intermediary["merkleRoot"] {
            Value::Null => assert_eq!(info.merkle_root(), None),
            root => assert_eq!(info.merkle_root().unwrap().to_byte_array().to_vec(), bytes(root)),
        }
        assert_eq!(
            info.tap_tweak().to_byte_array().to_vec(),
            bytes(&intermediary["tweak"])
        );
        assert_eq!(
            info.output_key().to_x_only_public_key().serialize().to_vec(),
            bytes(&intermediary["tweakedPubkey"])
        );
        let script = ScriptBuf::new_p2tr(&secp, internal, info.merkle_root());
        assert_eq!(script.as_bytes(), bytes(&expected["scriptPubKey"]).as_slice());
        assert_eq!(
            Address::p2tr_tweaked(info.output_key(), KnownHrp::Mainnet).to_string(),
            hex_of(&expected["bip350Address"])
        );

        // Leaf hashes and control blocks are listed in leaf id order.
        tree_leaves.sort_by_key(|(_, id, _, _)| *id);
        for (n, (_, _, script, version)) in tree_leaves.iter().enumerate() {
            assert_eq!(
                TapLeafHash::from_script(script, *version)
                    .to_byte_array()
                    .to_vec(),
                bytes(&intermediary["leafHashes"][n])
            );
            let control = info.control_block(&(script.clone(), *version)).unwrap();
            assert_eq!(
                control.serialize(),
                bytes(&expected["scriptPathControlBlocks"][n])
            );
        }
    }
}

fn spent_outputs(given: &Value) -> Vec<TxOut> {
    given["utxosSpent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|utxo| TxOut {
            value: Amount::from_sat(utxo["amountSats"].as_u64().unwrap()),
            script_pubkey: ScriptBuf::from_bytes(bytes(&utxo["scriptPubKey"])),
        })
        .collect()
}

fn sha256_of(parts: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut engine = sha256::Hash::engine();
    for part in parts {
        engine.input(&part);
    }
    sha256::Hash::from_engine(engine).to_byte_array().to_vec()
}

#[test]
fn key_path_spending_sighashes_and_signatures() {
    use bitcoin::consensus::encode::serialize;

    let secp = Secp256k1::new();
    let all = vectors();
    let group = &all["keyPathSpending"][0];
    let tx: Transaction = deserialize(&bytes(&group["given"]["rawUnsignedTx"])).unwrap();
    let utxos = spent_outputs(&group["given"]);
    let prevouts = Prevouts::All(&utxos);

    // BIP341's precomputed hashes (single SHA256 of the concatenations).
    let intermediary = &group["intermediary"];
    let checks = [
        (
            "hashPrevouts",
            sha256_of(tx.input.iter().map(|i| serialize(&i.previous_output))),
        ),
        (
            "hashAmounts",
            sha256_of(utxos.iter().map(|u| serialize(&u.value))),
        ),
        (
            "hashScriptPubkeys",
            sha256_of(utxos.iter().map(|u| serialize(&u.script_pubkey))),
        ),
        (
            "hashSequences",
            sha256_of(tx.input.iter().map(|i| serialize(&i.sequence))),
        ),
        ("hashOutputs", sha256_of(tx.output.iter().map(serialize))),
    ];
    for (name, computed) in checks {
        assert_eq!(computed, bytes(&intermediary[name]), "{name}");
    }

    let mut cache = SighashCache::new(&tx);
    let inputs = group["inputSpending"].as_array().unwrap();
    assert_eq!(inputs.len(), 7);
    for spend in inputs {
        let given = &spend["given"];
        let index = usize::try_from(given["txinIndex"].as_u64().unwrap()).unwrap();
        let hash_type =
            TapSighashType::from_consensus_u8(u8::try_from(given["hashType"].as_u64().unwrap()).unwrap())
                .unwrap();
        let merkle_root = match &given["merkleRoot"] {
            Value::Null => None,
            root => Some(TapNodeHash::from_slice(&bytes(root)).unwrap()),
        };
        let mid = &spend["intermediary"];

        let secret = SecretKey::from_slice(&bytes(&given["internalPrivkey"])).unwrap();
        let keypair = Keypair::from_secret_key(&secp, &secret);
        assert_eq!(
            keypair.x_only_public_key().0.serialize().to_vec(),
            bytes(&mid["internalPubkey"])
        );
        let tweaked = keypair.tap_tweak(&secp, merkle_root).to_keypair();
        assert_eq!(
            tweaked.secret_bytes().to_vec(),
            bytes(&mid["tweakedPrivkey"]),
            "input {index}"
        );

        let mut message = Vec::new();
        cache
            .taproot_encode_signing_data_to(&mut message, index, &prevouts, None, None, hash_type)
            .unwrap();
        assert_eq!(message, bytes(&mid["sigMsg"]), "input {index} sigMsg");
        let sighash = cache
            .taproot_key_spend_signature_hash(index, &prevouts, hash_type)
            .unwrap();
        assert_eq!(
            sighash.to_byte_array().to_vec(),
            bytes(&mid["sigHash"]),
            "input {index} sigHash"
        );

        // BIP341's vectors sign with an all-zero aux_rand.
        let msg = Message::from_digest(sighash.to_byte_array());
        let signature = secp.sign_schnorr_with_aux_rand(&msg, &tweaked, &[0u8; 32]);
        let mut witness = signature.as_ref().to_vec();
        if hash_type != TapSighashType::Default {
            witness.push(hash_type as u8);
        }
        assert_eq!(
            witness,
            bytes(&spend["expected"]["witness"][0]),
            "input {index} signature"
        );
        secp.verify_schnorr(&signature, &msg, &tweaked.x_only_public_key().0)
            .unwrap();
    }

    // The fully signed transaction (key-path, P2PKH and P2WPKH inputs, several sighash
    // types) passes Bitcoin Core's interpreter; one satoshi more on any input breaks it.
    let signed: Transaction = deserialize(&bytes(&group["auxiliary"]["fullySignedTx"])).unwrap();
    let mut stripped = signed.clone();
    for input in &mut stripped.input {
        input.script_sig = ScriptBuf::new();
        input.witness.clear();
    }
    assert_eq!(
        stripped, tx,
        "the signed transaction is the unsigned one plus signatures"
    );
    verify_transaction(&signed, &utxos).unwrap();
    let mut inflated = utxos.clone();
    inflated[3].value += Amount::from_sat(1);
    assert!(verify_transaction(&signed, &inflated).is_err());
}
