//! Every rule of PSBT inspection refuses a PSBT tampered the way a compromised
//! coordinator would, naming the rule.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use std::str::FromStr;

use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::psbt::PsbtSighashType;
use bitcoin::{Amount, EcdsaSighashType, Network, ScriptBuf, TapSighashType};
use common::*;
use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy, Refusal};

fn refusal(name: &str, tamper: impl Fn(&mut bitcoin::psbt::Psbt)) -> Refusal {
    let fx = fixtures();
    let mut p = psbt(&fx, name, "unsigned_psbt");
    tamper(&mut p);
    inspect_psbt(&p, &wallet(&fx, name), &policy()).expect_err("tampered PSBT must be refused")
}

fn change_vout(name: &str) -> usize {
    let fx = fixtures();
    let inspected = inspect_psbt(&psbt(&fx, name, "unsigned_psbt"), &wallet(&fx, name), &policy()).unwrap();
    inspected.review().change()[0].vout
}

#[test]
fn foreign_input_is_refused() {
    for name in WALLETS {
        let r = refusal(name, |p| {
            // Point the input's derivation claims at another account: the script no longer derives.
            let foreign = |origin: &mut (Fingerprint, DerivationPath)| {
                origin.1 = DerivationPath::from_str("m/84h/1h/5h/0/0").unwrap();
            };
            p.inputs[0].bip32_derivation.values_mut().for_each(foreign);
            p.inputs[0]
                .tap_key_origins
                .values_mut()
                .for_each(|(_, o)| foreign(o));
        });
        assert_eq!(r, Refusal::ForeignInput { index: 0 }, "{name}");
    }
    // Another wallet's coin with truthful claims for that wallet is foreign too.
    let fx = fixtures();
    let r = inspect_psbt(
        &psbt(&fx, "wpkh_single", "unsigned_psbt"),
        &wallet(&fx, "wsh_2of3"),
        &policy(),
    );
    assert_eq!(r.unwrap_err(), Refusal::ForeignInput { index: 0 });
}

#[test]
fn segwit_v0_input_without_full_previous_transaction_is_refused() {
    for name in ["wpkh_single", "wsh_2of3"] {
        let r = refusal(name, |p| p.inputs[0].non_witness_utxo = None);
        assert_eq!(r, Refusal::MissingNonWitnessUtxo { index: 0 }, "{name}");
    }
}

#[test]
fn inflated_input_amount_is_refused() {
    for name in ["wpkh_single", "wsh_2of3"] {
        let r = refusal(name, |p| {
            let utxo = p.inputs[0].witness_utxo.as_mut().unwrap();
            utxo.value += Amount::from_sat(50_000);
        });
        assert_eq!(r, Refusal::WitnessUtxoMismatch { index: 0 }, "{name}");
        // Editing the full transaction instead changes its txid.
        let r = refusal(name, |p| {
            let prev = p.inputs[0].non_witness_utxo.as_mut().unwrap();
            prev.output[0].value += Amount::from_sat(50_000);
        });
        assert_eq!(r, Refusal::NonWitnessUtxoTxidMismatch { index: 0 }, "{name}");
    }
    let r = refusal("tr_single", |p| p.inputs[0].witness_utxo = None);
    assert_eq!(r, Refusal::MissingUtxo { index: 0 });
}

#[test]
fn sighash_other_than_all_is_refused() {
    for ty in [
        EcdsaSighashType::None,
        EcdsaSighashType::Single,
        EcdsaSighashType::AllPlusAnyoneCanPay,
    ] {
        let r = refusal("wsh_2of3", |p| {
            p.inputs[0].sighash_type = Some(PsbtSighashType::from(ty))
        });
        assert!(
            matches!(r, Refusal::UnsupportedSighash { index: 0, .. }),
            "{ty:?}: {r}"
        );
    }
    let r = refusal("tr_single", |p| {
        p.inputs[0].sighash_type = Some(PsbtSighashType::from(TapSighashType::SinglePlusAnyoneCanPay))
    });
    assert!(matches!(r, Refusal::UnsupportedSighash { index: 0, .. }));
    // ALL is fine, and DEFAULT on taproot.
    let fx = fixtures();
    let mut p = psbt(&fx, "tr_single", "unsigned_psbt");
    p.inputs[0].sighash_type = Some(PsbtSighashType::from(TapSighashType::Default));
    assert!(inspect_psbt(&p, &wallet(&fx, "tr_single"), &policy()).is_ok());
    let mut p = psbt(&fx, "wpkh_single", "unsigned_psbt");
    p.inputs[0].sighash_type = Some(PsbtSighashType::from(EcdsaSighashType::All));
    assert!(inspect_psbt(&p, &wallet(&fx, "wpkh_single"), &policy()).is_ok());
}

#[test]
fn wrong_network_is_refused() {
    let fx = fixtures();
    let mainnet = InspectionPolicy {
        network: Network::Bitcoin,
        ..policy()
    };
    for name in WALLETS {
        let r = inspect_psbt(&psbt(&fx, name, "unsigned_psbt"), &wallet(&fx, name), &mainnet).unwrap_err();
        assert!(matches!(r, Refusal::WrongNetwork { .. }), "{name}: {r}");
    }
}

#[test]
fn fee_above_cap_is_refused() {
    let fx = fixtures();
    let tight = InspectionPolicy {
        max_fee: Amount::from_sat(1_000),
        ..policy()
    };
    let r = inspect_psbt(
        &psbt(&fx, "wpkh_single", "unsigned_psbt"),
        &wallet(&fx, "wpkh_single"),
        &tight,
    );
    assert!(matches!(r.unwrap_err(), Refusal::FeeAboveCap { .. }));
}

#[test]
fn swapped_change_address_is_refused() {
    for name in WALLETS {
        let vout = change_vout(name);
        let r = refusal(name, |p| {
            p.unsigned_tx.output[vout].script_pubkey = ScriptBuf::new_p2wsh(&ScriptBuf::new().wscript_hash());
        });
        assert_eq!(r, Refusal::FalseChange { vout }, "{name}");
    }
}

#[test]
fn change_with_a_swapped_cosigner_key_is_refused() {
    // The attacker's 2-of-3 replaces cosigner C with its own key and claims it is change:
    // the script differs from what our change branch derives, whatever the claims say.
    let fx = fixtures();
    let vout = change_vout("wsh_2of3");
    let attacker_change = {
        let ours = wallet(&fx, "wsh_2of3");
        let other = wallet(&fx, "wpkh_single"); // a script we can derive but that is not our change
        assert_ne!(
            ours.script_pubkey(sluice_shared::descriptor::Branch::Change, 0)
                .unwrap(),
            other
                .script_pubkey(sluice_shared::descriptor::Branch::Change, 0)
                .unwrap()
        );
        let secp = bitcoin::secp256k1::Secp256k1::new();
        let key =
            bitcoin::PrivateKey::from_wif("cVt4o7BGAig1UXywgGSmARhxMdzP5qvQsxKkSsc1XEkw3tDTQFpy").unwrap();
        let pk = key.public_key(&secp);
        let witness_script = bitcoin::blockdata::script::Builder::new()
            .push_int(2)
            .push_key(&pk)
            .push_key(&pk)
            .push_key(&pk)
            .push_int(3)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
            .into_script();
        ScriptBuf::new_p2wsh(&witness_script.wscript_hash())
    };
    let r = refusal("wsh_2of3", |p| {
        p.unsigned_tx.output[vout].script_pubkey = attacker_change.clone()
    });
    assert_eq!(r, Refusal::FalseChange { vout });
}

#[test]
fn change_claim_at_another_index_does_not_make_change() {
    let vout = change_vout("wpkh_single");
    let r = refusal("wpkh_single", |p| {
        for (_, path) in p.outputs[vout].bip32_derivation.values_mut() {
            let mut steps: Vec<_> = path.as_ref().to_vec();
            let last = steps.len() - 1;
            steps[last] = bitcoin::bip32::ChildNumber::Normal { index: 999 };
            *path = DerivationPath::from(steps);
        }
    });
    assert_eq!(r, Refusal::FalseChange { vout });
}

#[test]
fn outputs_exceeding_inputs_are_refused() {
    let r = refusal("wpkh_single", |p| {
        p.unsigned_tx.output[0].value = Amount::from_sat(100_000_000_000)
    });
    assert!(matches!(r, Refusal::OutputsExceedInputs { .. }));
}

#[test]
fn unclaimed_output_is_outflow_not_change() {
    // Dropping the change output's claims makes it an external output: outflow grows by it.
    let fx = fixtures();
    let vout = change_vout("wpkh_single");
    let mut p = psbt(&fx, "wpkh_single", "unsigned_psbt");
    p.outputs[vout].bip32_derivation.clear();
    let inspected = inspect_psbt(&p, &wallet(&fx, "wpkh_single"), &policy()).unwrap();
    let review = inspected.review();
    assert!(review.change().is_empty());
    assert_eq!(review.outflow(), review.total_in());
}

#[test]
fn no_inputs_is_refused() {
    let r = refusal("wpkh_single", |p| {
        p.unsigned_tx.input.clear();
        p.inputs.clear();
    });
    assert_eq!(r, Refusal::NoInputs);
}

/// Exactly one cosigner swapped: the change output becomes a 2-of-3 of A, B and an
/// attacker's key instead of C's, with the claims for A and B left as they were and the
/// attacker's key claimed at C's path. It looks like ours; it must not count as change.
#[test]
fn change_with_exactly_one_cosigner_swapped_is_refused() {
    let vout = change_vout("wsh_2of3");
    let c = Fingerprint::from_str("3429876a").unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let attacker = bitcoin::secp256k1::SecretKey::from_slice(&[7u8; 32])
        .unwrap()
        .public_key(&secp);
    let r = refusal("wsh_2of3", |p| {
        let output = &mut p.outputs[vout];
        let (c_key, c_origin) = output
            .bip32_derivation
            .iter()
            .find(|(_, (fingerprint, _))| *fingerprint == c)
            .map(|(key, origin)| (*key, origin.clone()))
            .unwrap();
        output.bip32_derivation.remove(&c_key);
        output.bip32_derivation.insert(attacker, c_origin);
        let mut keys: Vec<bitcoin::PublicKey> = output
            .bip32_derivation
            .keys()
            .map(|k| bitcoin::PublicKey::new(*k))
            .collect();
        keys.sort();
        let mut builder = bitcoin::blockdata::script::Builder::new().push_int(2);
        for key in &keys {
            builder = builder.push_key(key);
        }
        let witness_script = builder
            .push_int(3)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
            .into_script();
        p.unsigned_tx.output[vout].script_pubkey = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
        output.witness_script = Some(witness_script);
    });
    assert_eq!(r, Refusal::FalseChange { vout });
}

#[test]
fn payment_to_our_own_receive_branch_is_outflow() {
    // Only the change branch is change: an output that truly derives from our receive
    // branch (claims and all) still leaves the signer's accounting as outflow.
    let fx = fixtures();
    let mut p = psbt(&fx, "wpkh_single", "unsigned_psbt");
    let honest = inspect_psbt(&p, &wallet(&fx, "wpkh_single"), &policy()).unwrap();
    let honest = honest.review();
    let vout = honest.change()[0].vout;
    p.outputs[vout].bip32_derivation = p.inputs[0].bip32_derivation.clone();
    p.unsigned_tx.output[vout].script_pubkey =
        p.inputs[0].witness_utxo.as_ref().unwrap().script_pubkey.clone();
    let inspected = inspect_psbt(&p, &wallet(&fx, "wpkh_single"), &policy()).unwrap();
    let review = inspected.review();
    assert!(review.change().is_empty());
    assert_eq!(review.outflow(), honest.outflow() + honest.change()[0].amount);
}

#[test]
fn script_hints_that_disagree_with_the_derived_script_are_refused() {
    // A signer signs with the witness script and taproot keys the PSBT gives it.
    let r = refusal("wsh_2of3", |p| {
        p.inputs[0].witness_script = p.inputs[1].witness_script.clone()
    });
    assert!(
        matches!(&r, Refusal::Malformed(m) if m.contains("witness_script")),
        "{r}"
    );
    let r = refusal("tr_single", |p| {
        p.inputs[0].tap_internal_key = p.inputs[1].tap_internal_key
    });
    assert!(
        matches!(&r, Refusal::Malformed(m) if m.contains("tap_internal_key")),
        "{r}"
    );
    let r = refusal("tr_single", |p| {
        p.inputs[0].tap_merkle_root = Some(bitcoin::hashes::Hash::from_byte_array([1; 32]))
    });
    assert!(
        matches!(&r, Refusal::Malformed(m) if m.contains("script tree")),
        "{r}"
    );
    let r = refusal("wpkh_single", |p| {
        p.inputs[0].witness_script = Some(ScriptBuf::new())
    });
    assert!(
        matches!(&r, Refusal::Malformed(m) if m.contains("witness_script")),
        "{r}"
    );
}

#[test]
fn a_coin_spent_twice_is_refused() {
    let r = refusal("wpkh_single", |p| {
        p.unsigned_tx.input.push(p.unsigned_tx.input[0].clone());
        p.inputs.push(p.inputs[0].clone());
    });
    assert!(
        matches!(&r, Refusal::Malformed(m) if m.contains("second time")),
        "{r}"
    );
}

#[test]
fn a_mainnet_global_xpub_is_refused_on_regtest() {
    // BIP 84's account xpub (mainnet).
    let xpub = bitcoin::bip32::Xpub::from_str("xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V").unwrap();
    let r = refusal("wpkh_single", |p| {
        p.xpub.insert(
            xpub,
            (
                Fingerprint::from_str("73c5da0a").unwrap(),
                DerivationPath::from_str("m/84h/0h/0h").unwrap(),
            ),
        );
    });
    assert!(matches!(r, Refusal::WrongNetwork { .. }), "{r}");
}

#[test]
fn the_fee_cap_is_inclusive() {
    let fx = fixtures();
    for name in WALLETS {
        let p = psbt(&fx, name, "unsigned_psbt");
        let w = wallet(&fx, name);
        let fee = inspect_psbt(&p, &w, &policy()).unwrap().review().fee();
        let at_cap = InspectionPolicy {
            max_fee: fee,
            ..policy()
        };
        assert!(inspect_psbt(&p, &w, &at_cap).is_ok(), "{name}");
        let below = InspectionPolicy {
            max_fee: fee - Amount::from_sat(1),
            ..policy()
        };
        assert_eq!(
            inspect_psbt(&p, &w, &below).unwrap_err(),
            Refusal::FeeAboveCap {
                fee,
                cap: fee - Amount::from_sat(1)
            },
            "{name}"
        );
    }
}

#[test]
fn change_beyond_the_gap_above_the_highest_known_index_is_refused() {
    let fx = fixtures();
    for name in WALLETS {
        let p = psbt(&fx, name, "unsigned_psbt");
        let w = wallet(&fx, name);
        let honest = inspect_psbt(&p, &w, &policy()).unwrap();
        let change = honest.review().change()[0].clone();
        let with = |highest_known, gap| InspectionPolicy {
            change_bound: ChangeIndexBound { highest_known, gap },
            ..policy()
        };
        // Nothing known: change may sit at 0..gap.
        assert!(
            inspect_psbt(&p, &w, &with(None, change.derivation_index + 1)).is_ok(),
            "{name}"
        );
        if change.derivation_index > 0 {
            assert_eq!(
                inspect_psbt(&p, &w, &with(None, change.derivation_index)).unwrap_err(),
                Refusal::ChangeBeyondGap {
                    vout: change.vout,
                    index: change.derivation_index,
                    highest_allowed: change.derivation_index - 1,
                },
                "{name}"
            );
        }
        // Known up to k: change may sit at k + gap at most.
        assert!(
            inspect_psbt(&p, &w, &with(Some(change.derivation_index), 1)).is_ok(),
            "{name}"
        );
        assert!(
            inspect_psbt(&p, &w, &with(Some(0), change.derivation_index)).is_ok(),
            "{name}"
        );
        let r = inspect_psbt(&p, &w, &with(Some(0), 0)).map(|_| ());
        assert_eq!(
            r.is_ok(),
            change.derivation_index <= 1,
            "{name}: a gap of 0 counts as 1"
        );
    }
}
