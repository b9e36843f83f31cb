//! Sluice against a real Bitcoin Core node's PSBTs: the same outflow, and signatures that
//! finalize into transactions Core's interpreter accepts.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::Transaction;
use common::*;
use sluice_shared::consensus::verify_transaction;
use sluice_shared::finalize::{combine, finalize, spent_outputs, FinalizeError};
use sluice_shared::inspect::inspect_psbt;

#[test]
fn outflow_fee_and_outputs_match_core_exactly() {
    let fx = fixtures();
    for name in WALLETS {
        let w = &fx["wallets"][name];
        let inspected = inspect_psbt(&psbt(&fx, name, "unsigned_psbt"), &wallet(&fx, name), &policy())
            .unwrap_or_else(|r| panic!("{name}: refused: {r}"));
        let review = inspected.review();
        assert_eq!(review.fee(), btc(&w["fee_btc"]), "{name} fee");
        assert_eq!(
            review.total_external(),
            btc(&w["external_outputs_btc"]),
            "{name} external"
        );
        assert_eq!(
            review.outflow(),
            btc(&w["expected_outflow_btc"]),
            "{name} outflow"
        );
        assert_eq!(
            review.change().len(),
            1,
            "{name}: Core's change output is verified change"
        );
        assert_eq!(review.external().len(), 1, "{name}: one payment");
        assert_eq!(
            review.external()[0].address.as_ref().unwrap().to_string(),
            w["destination"].as_str().unwrap(),
            "{name} destination"
        );
    }
}

#[test]
fn cores_final_transactions_verify_with_cores_interpreter() {
    let fx = fixtures();
    for name in WALLETS {
        let unsigned = psbt(&fx, name, "unsigned_psbt");
        let tx: Transaction = deserialize_hex(fx["wallets"][name]["final_tx_hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            tx.compute_txid().to_string(),
            fx["wallets"][name]["txid"].as_str().unwrap()
        );
        verify_transaction(&tx, &spent_outputs(&unsigned).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn cores_partial_signatures_combine_and_finalize_to_cores_transaction() {
    let fx = fixtures();
    for name in WALLETS {
        let partials: Vec<_> = signers(name)
            .iter()
            .map(|s| {
                let text = fx["wallets"][name]["partially_signed"][s].as_str().unwrap();
                text.parse::<bitcoin::psbt::Psbt>().unwrap()
            })
            .collect();
        let tx = finalize(&combine(&partials).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            tx.compute_txid().to_string(),
            fx["wallets"][name]["txid"].as_str().unwrap(),
            "{name}"
        );
        // Core's own signatures are used as given (schnorr ones included), so the
        // witnesses are Core's too: the very same bytes.
        assert_eq!(
            bitcoin::consensus::encode::serialize_hex(&tx),
            fx["wallets"][name]["final_tx_hex"].as_str().unwrap(),
            "{name}"
        );
        // Core's own combined PSBT finalizes to the same transaction.
        assert_eq!(finalize(&psbt(&fx, name, "combined_psbt")).unwrap(), tx, "{name}");
    }
}

#[test]
fn our_signatures_finalize_into_valid_transactions() {
    let fx = fixtures();
    let secp = Secp256k1::new();
    for name in WALLETS {
        let unsigned = psbt(&fx, name, "unsigned_psbt");
        let partials: Vec<_> = signers(name)
            .iter()
            .map(|s| {
                let mut p = unsigned.clone();
                let signed = p
                    .sign(&xpriv(&fx, s), &secp)
                    .unwrap_or_else(|(_, e)| panic!("{name}/{s}: {e:?}"));
                assert_eq!(
                    signed.len(),
                    unsigned.inputs.len(),
                    "{name}/{s} signs every input"
                );
                p
            })
            .collect();
        let tx = finalize(&combine(&partials).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            tx.compute_txid().to_string(),
            fx["wallets"][name]["txid"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn one_signature_of_two_does_not_finalize() {
    let fx = fixtures();
    let mut p = psbt(&fx, "wsh_2of3", "unsigned_psbt");
    p.sign(&xpriv(&fx, "A"), &Secp256k1::new()).unwrap();
    assert!(finalize(&p).is_err());
}

#[test]
fn psbts_of_different_transactions_do_not_combine() {
    let fx = fixtures();
    let a = psbt(&fx, "wsh_2of3", "unsigned_psbt");
    let b = psbt(&fx, "wpkh_single", "unsigned_psbt");
    assert!(matches!(combine(&[a, b]), Err(FinalizeError::Combine(_))));
    assert_eq!(combine(&[]), Err(FinalizeError::Empty));
}

#[test]
fn a_signature_over_another_transaction_never_becomes_a_transaction() {
    let fx = fixtures();
    let mut p = psbt(&fx, "wpkh_single", "combined_psbt");
    let other = psbt(&fx, "wsh_2of3", "combined_psbt");
    let foreign = *other.inputs[0].partial_sigs.values().next().unwrap();
    let key = *p.inputs[0].partial_sigs.keys().next().unwrap();
    p.inputs[0].partial_sigs.insert(key, foreign);
    assert!(finalize(&p).is_err());
}

#[test]
fn the_final_check_uses_proven_previous_outputs() {
    // A witness_utxo that disagrees with the full previous transaction is not believed.
    let fx = fixtures();
    let mut p = psbt(&fx, "wpkh_single", "combined_psbt");
    p.inputs[1].witness_utxo.as_mut().unwrap().value += bitcoin::Amount::from_sat(1);
    assert_eq!(
        spent_outputs(&p),
        Err(FinalizeError::WrongPreviousTransaction { index: 1 })
    );
    assert!(finalize(&p).is_err());
    let mut p = psbt(&fx, "wsh_2of3", "combined_psbt");
    let vout = p.unsigned_tx.input[0].previous_output.vout as usize;
    p.inputs[0].non_witness_utxo.as_mut().unwrap().output[vout].value += bitcoin::Amount::from_sat(1);
    assert_eq!(
        spent_outputs(&p),
        Err(FinalizeError::WrongPreviousTransaction { index: 0 })
    );
}
