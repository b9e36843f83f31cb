#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! Bitcoin Core 30 made, signed and accepted these PSBTs (../shared/fixtures): our
//! inspection must compute the same fee and outflow to the satoshi, Bitcoin Core's
//! interpreter must accept Core's final transactions with the spent outputs we read from
//! the PSBTs, and Core's partial signatures must combine and finalize to Core's transaction.

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, Network, Transaction};
use sluice_shared::consensus::verify_transaction;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::finalize::{combine, finalize, spent_outputs, FinalizeError};
use sluice_shared::inspect::{inspect_psbt, InspectionPolicy};

const FIXTURES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
));
const WALLETS: [&str; 3] = ["wpkh_single", "wsh_2of3", "tr_single"];

fn wallet_fixture(name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(FIXTURES).unwrap();
    all["wallets"][name].clone()
}

fn wallet_of(w: &serde_json::Value) -> WalletDescriptor {
    WalletDescriptor::parse(
        w["descriptor_receive"].as_str().unwrap(),
        Some(w["descriptor_change"].as_str().unwrap()),
    )
    .unwrap()
}

fn psbt_of(value: &serde_json::Value) -> Psbt {
    value.as_str().unwrap().parse().unwrap()
}

/// BTC amounts in the JSON are numbers with at most eight decimals.
fn btc(value: &serde_json::Value) -> Amount {
    let sats = (value.as_f64().unwrap() * 1e8).round();
    Amount::from_sat(sats as u64)
}

fn regtest_policy() -> InspectionPolicy {
    InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_sat(100_000),
    }
}

#[test]
fn inspection_matches_cores_fee_external_and_outflow_exactly() {
    for name in WALLETS {
        let w = wallet_fixture(name);
        let wallet = wallet_of(&w);
        let psbt = psbt_of(&w["unsigned_psbt"]);
        let review = inspect_psbt(&psbt, &wallet, &regtest_policy()).unwrap();

        assert_eq!(review.fee, btc(&w["fee_btc"]), "{name} fee");
        let external: Amount = review.external.iter().map(|o| o.amount).sum();
        assert_eq!(external, btc(&w["external_outputs_btc"]), "{name} external");
        assert_eq!(review.outflow, btc(&w["expected_outflow_btc"]), "{name} outflow");
        assert_eq!(
            review.txid.to_string(),
            w["txid"].as_str().unwrap(),
            "{name} txid"
        );

        assert_eq!(review.inputs.len(), psbt.unsigned_tx.input.len());
        assert!(review.inputs.iter().all(|i| i.branch == Branch::Receive));
        assert_eq!(review.external.len(), 1, "{name}: one payment");
        assert_eq!(
            review.external[0].address.as_ref().unwrap().to_string(),
            w["destination"].as_str().unwrap()
        );
        assert_eq!(review.change.len(), 1, "{name}: Core's change is verified change");
        let change = &review.change[0];
        assert_eq!(
            wallet
                .script_pubkey(Branch::Change, change.derivation_index)
                .unwrap(),
            psbt.unsigned_tx.output[change.vout].script_pubkey
        );
    }
}

#[test]
fn cores_final_transactions_pass_the_consensus_interpreter() {
    for name in WALLETS {
        let w = wallet_fixture(name);
        let psbt = psbt_of(&w["unsigned_psbt"]);
        let tx: Transaction =
            deserialize(&hex::decode(w["final_tx_hex"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(tx.compute_txid().to_string(), w["txid"].as_str().unwrap());
        let spent = spent_outputs(&psbt).unwrap();
        verify_transaction(&tx, &spent).unwrap();

        // The same transaction against a spent output with one satoshi more must fail for
        // segwit v0 (the signature commits to the amount) and taproot alike.
        let mut inflated = spent.clone();
        inflated[0].value += Amount::from_sat(1);
        assert!(verify_transaction(&tx, &inflated).is_err(), "{name}");
    }
}

#[test]
fn cores_partial_signatures_combine_and_finalize_to_cores_transaction() {
    for name in WALLETS {
        let w = wallet_fixture(name);
        let signers: &[&str] = if name == "wsh_2of3" { &["A", "B"] } else { &["A"] };
        let partials: Vec<Psbt> = signers
            .iter()
            .map(|s| psbt_of(&w["partially_signed"][*s]))
            .collect();
        let combined = combine(&partials).unwrap();
        let tx = finalize(&combined).unwrap();
        assert_eq!(
            tx.compute_txid().to_string(),
            w["txid"].as_str().unwrap(),
            "{name}"
        );
        // Core's own signatures are used as given, so even the witnesses are identical.
        assert_eq!(serialize_hex(&tx), w["final_tx_hex"].as_str().unwrap(), "{name}");

        // Core's combined PSBT finalizes the same way.
        let core_combined = psbt_of(&w["combined_psbt"]);
        assert_eq!(finalize(&core_combined).unwrap(), tx);
    }
}

#[test]
fn one_signature_of_two_is_not_enough() {
    let w = wallet_fixture("wsh_2of3");
    let only_a = psbt_of(&w["partially_signed"]["A"]);
    assert!(matches!(finalize(&only_a), Err(FinalizeError::NotFinalizable(_))));
    assert!(matches!(
        finalize(&psbt_of(&w["unsigned_psbt"])),
        Err(FinalizeError::NotFinalizable(_))
    ));
}

#[test]
fn combine_refuses_psbts_of_different_transactions() {
    let a = psbt_of(&wallet_fixture("wsh_2of3")["partially_signed"]["A"]);
    let other = psbt_of(&wallet_fixture("wpkh_single")["partially_signed"]["A"]);
    assert!(matches!(
        combine(&[a, other]),
        Err(FinalizeError::DifferentTransaction { position: 1, .. })
    ));
    assert_eq!(combine(&[]), Err(FinalizeError::NoPsbts));
}

#[test]
fn a_forged_signature_is_caught_before_the_transaction_is_returned() {
    // Finalizing with a signature over another transaction must not hand out a transaction:
    // miniscript's interpreter or Bitcoin Core's refuses it.
    let w = wallet_fixture("wpkh_single");
    let mut psbt = psbt_of(&w["partially_signed"]["A"]);
    let other = psbt_of(&wallet_fixture("wsh_2of3")["partially_signed"]["A"]);
    let (_, foreign_sig) = other.inputs[0].partial_sigs.iter().next().unwrap();
    let (key, _) = psbt.inputs[0].partial_sigs.iter().next().unwrap();
    let key = *key;
    psbt.inputs[0].partial_sigs.insert(key, *foreign_sig);
    assert!(finalize(&psbt).is_err());
}

#[test]
fn our_signatures_on_cores_unsigned_psbts_finalize_to_cores_txid() {
    use bitcoin::bip32::Xpriv;
    use bitcoin::secp256k1::Secp256k1;
    use std::str::FromStr;

    let all: serde_json::Value = serde_json::from_str(FIXTURES).unwrap();
    let secp = Secp256k1::new();
    for name in WALLETS {
        let w = wallet_fixture(name);
        let unsigned = psbt_of(&w["unsigned_psbt"]);
        let signers: &[&str] = if name == "wsh_2of3" { &["B", "C"] } else { &["A"] };
        let signed: Vec<Psbt> = signers
            .iter()
            .map(|s| {
                let key = Xpriv::from_str(all["keys"][*s]["master_tprv"].as_str().unwrap()).unwrap();
                let mut copy = unsigned.clone();
                copy.sign(&key, &secp).unwrap();
                copy
            })
            .collect();
        let tx = finalize(&combine(&signed).unwrap()).unwrap();
        // Witnesses differ from Core's (Core grinds ECDSA for low R; schnorr aux randomness),
        // the transaction does not.
        assert_eq!(
            tx.compute_txid().to_string(),
            w["txid"].as_str().unwrap(),
            "{name}"
        );
    }
}
