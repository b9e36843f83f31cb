#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! Each rule of PSBT inspection, shown refusing a tampered copy of a PSBT Bitcoin Core
//! made (../shared/fixtures). Every test changes one thing and expects the exact refusal.

use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use bitcoin::blockdata::opcodes::all::OP_CHECKMULTISIG;
use bitcoin::blockdata::script::Builder;
use bitcoin::psbt::{Psbt, PsbtSighashType};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, TapSighashType};
use bitcoin::{Amount, Network, ScriptBuf};
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::inspect::{inspect_psbt, InspectionPolicy, PsbtReview, Refusal};
use std::str::FromStr;

const FIXTURES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
));
const WALLETS: [&str; 3] = ["wpkh_single", "wsh_2of3", "tr_single"];

fn fixture(name: &str) -> (WalletDescriptor, Psbt) {
    let all: serde_json::Value = serde_json::from_str(FIXTURES).unwrap();
    let w = &all["wallets"][name];
    let wallet = WalletDescriptor::parse(
        w["descriptor_receive"].as_str().unwrap(),
        Some(w["descriptor_change"].as_str().unwrap()),
    )
    .unwrap();
    (wallet, w["unsigned_psbt"].as_str().unwrap().parse().unwrap())
}

fn policy() -> InspectionPolicy {
    InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_sat(100_000),
    }
}

fn inspect(psbt: &Psbt, wallet: &WalletDescriptor) -> Result<PsbtReview, Refusal> {
    inspect_psbt(psbt, wallet, &policy())
}

/// The vout of the fixture's change output (Core puts it at a random position).
fn change_vout(psbt: &Psbt, wallet: &WalletDescriptor) -> usize {
    inspect(psbt, wallet).unwrap().change[0].vout
}

#[test]
fn untampered_fixtures_pass() {
    for name in WALLETS {
        let (wallet, psbt) = fixture(name);
        inspect(&psbt, &wallet).unwrap();
    }
}

#[test]
fn input_of_another_wallet_with_our_keys_claims_is_foreign() {
    // The 2-of-3 wallet's input claims key A at 84h/1h/0h/0/0, exactly what the wpkh
    // wallet's first address claims: only deriving the script tells them apart.
    let (wallet, mut psbt) = fixture("wpkh_single");
    let (_, wsh_psbt) = fixture("wsh_2of3");
    psbt.unsigned_tx.input.push(wsh_psbt.unsigned_tx.input[0].clone());
    psbt.inputs.push(wsh_psbt.inputs[0].clone());
    assert_eq!(inspect(&psbt, &wallet), Err(Refusal::ForeignInput { index: 2 }));
}

#[test]
fn input_without_or_with_wrong_claims_is_foreign() {
    for name in WALLETS {
        let (wallet, psbt) = fixture(name);
        let mut unclaimed = psbt.clone();
        unclaimed.inputs[1].bip32_derivation.clear();
        unclaimed.inputs[1].tap_key_origins.clear();
        assert_eq!(
            inspect(&unclaimed, &wallet),
            Err(Refusal::ForeignInput { index: 1 }),
            "{name}"
        );

        // Point every claim of input 0 at another index: the script no longer derives.
        let mut misclaimed = psbt.clone();
        let bump = |(_, path): &mut (Fingerprint, DerivationPath)| {
            let mut steps: Vec<_> = path.into_iter().copied().collect();
            let last = steps.pop().unwrap();
            steps.push(bitcoin::bip32::ChildNumber::from_normal_idx(u32::from(last) + 50).unwrap());
            *path = DerivationPath::from(steps);
        };
        misclaimed.inputs[0].bip32_derivation.values_mut().for_each(bump);
        misclaimed.inputs[0]
            .tap_key_origins
            .values_mut()
            .for_each(|(_, source)| bump(source));
        assert_eq!(
            inspect(&misclaimed, &wallet),
            Err(Refusal::ForeignInput { index: 0 }),
            "{name}"
        );
    }
}

#[test]
fn segwit_v0_input_without_non_witness_utxo_is_refused() {
    for name in ["wpkh_single", "wsh_2of3"] {
        let (wallet, mut psbt) = fixture(name);
        assert!(psbt.inputs[1].witness_utxo.is_some());
        psbt.inputs[1].non_witness_utxo = None;
        assert_eq!(
            inspect(&psbt, &wallet),
            Err(Refusal::MissingNonWitnessUtxo { index: 1 }),
            "{name}"
        );
    }
}

#[test]
fn inflated_witness_utxo_disagreeing_with_non_witness_utxo_is_refused() {
    for name in ["wpkh_single", "wsh_2of3"] {
        let (wallet, mut psbt) = fixture(name);
        let utxo = psbt.inputs[0].witness_utxo.as_mut().unwrap();
        utxo.value += Amount::from_btc(1.0).unwrap();
        assert_eq!(
            inspect(&psbt, &wallet),
            Err(Refusal::WitnessUtxoMismatch { index: 0 }),
            "{name}"
        );
    }
}

#[test]
fn edited_non_witness_utxo_is_refused() {
    for name in ["wpkh_single", "wsh_2of3"] {
        let (wallet, mut psbt) = fixture(name);
        let vout = psbt.unsigned_tx.input[0].previous_output.vout as usize;
        let previous = psbt.inputs[0].non_witness_utxo.as_mut().unwrap();
        previous.output[vout].value += Amount::from_btc(1.0).unwrap();
        // Keep witness_utxo consistent with the edit so only the txid rule can catch it.
        psbt.inputs[0].witness_utxo = Some(previous.output[vout].clone());
        assert_eq!(
            inspect(&psbt, &wallet),
            Err(Refusal::NonWitnessUtxoTxidMismatch { index: 0 }),
            "{name}"
        );
    }
}

#[test]
fn taproot_input_without_any_utxo_is_refused() {
    let (wallet, mut psbt) = fixture("tr_single");
    psbt.inputs[0].witness_utxo = None;
    psbt.inputs[0].non_witness_utxo = None;
    assert_eq!(inspect(&psbt, &wallet), Err(Refusal::MissingUtxo { index: 0 }));
}

#[test]
fn sighash_other_than_all_is_refused() {
    for name in ["wpkh_single", "wsh_2of3"] {
        let (wallet, psbt) = fixture(name);
        for refused in [
            PsbtSighashType::from(EcdsaSighashType::None),
            PsbtSighashType::from(EcdsaSighashType::SinglePlusAnyoneCanPay),
            PsbtSighashType::from(EcdsaSighashType::AllPlusAnyoneCanPay),
            PsbtSighashType::from(TapSighashType::Default),
        ] {
            let mut tampered = psbt.clone();
            tampered.inputs[1].sighash_type = Some(refused);
            assert!(
                matches!(
                    inspect(&tampered, &wallet),
                    Err(Refusal::UnsupportedSighash { index: 1, .. })
                ),
                "{name} {refused}"
            );
        }
        let mut all = psbt.clone();
        all.inputs[1].sighash_type = Some(PsbtSighashType::from(EcdsaSighashType::All));
        inspect(&all, &wallet).unwrap();
    }

    let (wallet, psbt) = fixture("tr_single");
    for refused in [TapSighashType::None, TapSighashType::SinglePlusAnyoneCanPay] {
        let mut tampered = psbt.clone();
        tampered.inputs[0].sighash_type = Some(PsbtSighashType::from(refused));
        assert!(matches!(
            inspect(&tampered, &wallet),
            Err(Refusal::UnsupportedSighash { index: 0, .. })
        ));
    }
    for accepted in [TapSighashType::Default, TapSighashType::All] {
        let mut fine = psbt.clone();
        fine.inputs[0].sighash_type = Some(PsbtSighashType::from(accepted));
        inspect(&fine, &wallet).unwrap();
    }
}

#[test]
fn a_mainnet_signer_refuses_test_network_wallets() {
    for name in WALLETS {
        let (wallet, psbt) = fixture(name);
        let mainnet = InspectionPolicy {
            network: Network::Bitcoin,
            ..policy()
        };
        assert!(
            matches!(
                inspect_psbt(&psbt, &wallet, &mainnet),
                Err(Refusal::WrongNetwork { .. })
            ),
            "{name}"
        );
    }
}

#[test]
fn a_mainnet_global_xpub_is_refused_on_regtest() {
    let (wallet, mut psbt) = fixture("wpkh_single");
    // BIP 84's account xpub (mainnet).
    let xpub = Xpub::from_str("xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V").unwrap();
    psbt.xpub.insert(
        xpub,
        (
            Fingerprint::from_str("73c5da0a").unwrap(),
            DerivationPath::from_str("m/84h/0h/0h").unwrap(),
        ),
    );
    assert!(matches!(
        inspect(&psbt, &wallet),
        Err(Refusal::WrongNetwork { .. })
    ));
}

#[test]
fn fee_above_the_cap_is_refused_and_at_the_cap_accepted() {
    for name in WALLETS {
        let (wallet, psbt) = fixture(name);
        let fee = inspect(&psbt, &wallet).unwrap().fee;
        let at_cap = InspectionPolicy {
            max_fee: fee,
            ..policy()
        };
        inspect_psbt(&psbt, &wallet, &at_cap).unwrap();
        let below = InspectionPolicy {
            max_fee: fee - Amount::from_sat(1),
            ..policy()
        };
        assert_eq!(
            inspect_psbt(&psbt, &wallet, &below),
            Err(Refusal::FeeAboveCap {
                fee,
                cap: fee - Amount::from_sat(1)
            }),
            "{name}"
        );
    }
}

#[test]
fn change_claim_on_a_swapped_address_is_false_change() {
    for name in WALLETS {
        let (wallet, mut psbt) = fixture(name);
        let vout = change_vout(&psbt, &wallet);
        let payment = 1 - vout;
        // The attacker pays the "change" to the destination's script, keeping the claims.
        psbt.unsigned_tx.output[vout].script_pubkey = psbt.unsigned_tx.output[payment].script_pubkey.clone();
        assert_eq!(
            inspect(&psbt, &wallet),
            Err(Refusal::FalseChange { vout }),
            "{name}"
        );
    }
}

/// The change output becomes a 2-of-3 of A, B and an attacker's key instead of C's, with
/// the claims for A and B left in place: it looks like ours, but C can no longer sign and
/// the attacker can (with one of A or B). It must be refused, never counted as change.
#[test]
fn change_with_a_swapped_cosigner_key_is_false_change() {
    let (wallet, mut psbt) = fixture("wsh_2of3");
    let vout = change_vout(&psbt, &wallet);
    let c = Fingerprint::from_str("3429876a").unwrap();
    let secp = Secp256k1::new();
    let attacker = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[7u8; 32]).unwrap());

    let output = &mut psbt.outputs[vout];
    let (c_key, c_source) = output
        .bip32_derivation
        .iter()
        .find(|(_, (fingerprint, _))| *fingerprint == c)
        .map(|(k, s)| (*k, s.clone()))
        .unwrap();
    output.bip32_derivation.remove(&c_key);
    // Even claiming the attacker's key as C's at C's path does not make it derive.
    output.bip32_derivation.insert(attacker, c_source);
    let mut keys: Vec<bitcoin::PublicKey> = output
        .bip32_derivation
        .keys()
        .map(|k| bitcoin::PublicKey::new(*k))
        .collect();
    keys.sort();
    let mut builder = Builder::new().push_int(2);
    for key in &keys {
        builder = builder.push_key(key);
    }
    let witness_script = builder.push_int(3).push_opcode(OP_CHECKMULTISIG).into_script();
    output.witness_script = Some(witness_script.clone());
    psbt.unsigned_tx.output[vout].script_pubkey = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());

    assert_eq!(inspect(&psbt, &wallet), Err(Refusal::FalseChange { vout }));
}

#[test]
fn change_without_claims_counts_as_outflow() {
    for name in WALLETS {
        let (wallet, mut psbt) = fixture(name);
        let honest = inspect(&psbt, &wallet).unwrap();
        let vout = honest.change[0].vout;
        psbt.outputs[vout].bip32_derivation.clear();
        psbt.outputs[vout].tap_key_origins.clear();
        let review = inspect(&psbt, &wallet).unwrap();
        assert!(review.change.is_empty());
        assert_eq!(review.outflow, honest.outflow + honest.change[0].amount, "{name}");
    }
}

#[test]
fn payment_to_our_own_receive_branch_counts_as_outflow() {
    // Claims on branch 0 never make change: only the change branch is change.
    let (wallet, mut psbt) = fixture("wpkh_single");
    let honest = inspect(&psbt, &wallet).unwrap();
    let vout = honest.change[0].vout;
    let receive_claims = psbt.inputs[0].bip32_derivation.clone();
    psbt.outputs[vout].bip32_derivation = receive_claims;
    psbt.unsigned_tx.output[vout].script_pubkey = psbt.inputs[0]
        .witness_utxo
        .as_ref()
        .unwrap()
        .script_pubkey
        .clone();
    let review = inspect(&psbt, &wallet).unwrap();
    assert!(review.change.is_empty());
    assert_eq!(review.outflow, honest.outflow + honest.change[0].amount);
}

#[test]
fn outputs_exceeding_inputs_are_refused() {
    for name in WALLETS {
        let (wallet, mut psbt) = fixture(name);
        let review = inspect(&psbt, &wallet).unwrap();
        let payment = review.external[0].vout;
        psbt.unsigned_tx.output[payment].value += review.fee + Amount::from_sat(1);
        let inputs: Amount = review.inputs.iter().map(|i| i.amount).sum();
        assert_eq!(
            inspect(&psbt, &wallet),
            Err(Refusal::OutputsExceedInputs {
                inputs,
                outputs: inputs + Amount::from_sat(1)
            }),
            "{name}"
        );
    }
}

#[test]
fn script_hints_that_disagree_with_the_derived_script_are_refused() {
    let (wallet, mut psbt) = fixture("wsh_2of3");
    psbt.inputs[0].witness_script = psbt.inputs[1].witness_script.clone();
    assert!(matches!(inspect(&psbt, &wallet), Err(Refusal::Malformed(_))));

    let (wallet, mut psbt) = fixture("tr_single");
    psbt.inputs[0].tap_internal_key = psbt.inputs[1].tap_internal_key;
    assert!(matches!(inspect(&psbt, &wallet), Err(Refusal::Malformed(_))));
}

#[test]
fn structural_problems_are_refused() {
    let (wallet, psbt) = fixture("wpkh_single");
    let mut empty = psbt.clone();
    empty.unsigned_tx.input.clear();
    empty.inputs.clear();
    assert_eq!(inspect(&empty, &wallet), Err(Refusal::NoInputs));

    let mut twice = psbt.clone();
    twice.unsigned_tx.input.push(psbt.unsigned_tx.input[0].clone());
    twice.inputs.push(psbt.inputs[0].clone());
    assert!(matches!(inspect(&twice, &wallet), Err(Refusal::Malformed(_))));

    let mut lopsided = psbt;
    lopsided.outputs.pop();
    assert!(matches!(inspect(&lopsided, &wallet), Err(Refusal::Malformed(_))));
}
