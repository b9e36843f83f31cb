//! Issue 8 item 1: signing the same unsigned transaction again must not let a fee escape
//! the limits. A taproot input's amount comes from `witness_utxo` alone, so a coordinator
//! can send the same txid twice with different input amounts: once lowered (fee ≈ 0,
//! little reserved), once true. The signer stores the outflow it reserved with the txid
//! and refuses a repeat whose outflow differs, in either order.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::psbt::Psbt;
use sluice_shared::asset::Asset;
use support::*;

/// A taproot signer (fixture key A, the fixture's `tr_single` wallet) and its wallet.
fn taproot_signer() -> (TestSigner, sluice_shared::descriptor::WalletDescriptor) {
    let fx = fixtures();
    let w = &fx["wallets"]["tr_single"];
    let (r, c) = (
        w["descriptor_receive"].as_str().unwrap(),
        w["descriptor_change"].as_str().unwrap(),
    );
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    s.register("tr", r, c);
    s.limits("1", "60", "5", "10");
    let d = sluice_shared::descriptor::WalletDescriptor::parse(r, Some(c)).unwrap();
    (s, d)
}

/// The true PSBT (fee 0.009 BTC) and the same transaction with input 0's `witness_utxo`
/// lowered by 0.0089 BTC (fee 0.0001 BTC), both carrying only `witness_utxo`.
fn true_and_lowered(wallet: &sluice_shared::descriptor::WalletDescriptor) -> (Psbt, Psbt) {
    let mut truth = make_psbt(wallet, 2, btc("0.5"), btc("0.1"), btc("0.009"), 81);
    for input in &mut truth.inputs {
        input.non_witness_utxo = None;
    }
    let mut lowered = truth.clone();
    let utxo = lowered.inputs[0].witness_utxo.as_mut().unwrap();
    utxo.value -= btc("0.0089");
    assert_eq!(
        truth.unsigned_tx.compute_txid(),
        lowered.unsigned_tx.compute_txid()
    );
    (truth, lowered)
}

fn sign(s: &TestSigner, name: &str, psbt: &Psbt) -> std::process::Output {
    let path = s.path(name);
    write_psbt(&path, psbt);
    s.run(&["sign", "--yes", "--in", path.to_str().unwrap()])
}

#[test]
fn lowered_amounts_then_true_amounts_is_refused() {
    let (s, wallet) = taproot_signer();
    let (truth, lowered) = true_and_lowered(&wallet);
    let first = sign(&s, "low.psbt", &lowered);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let reserved = s.state().reserved_total(Asset::Btc).unwrap();
    assert_eq!(reserved, btc("0.1001"));

    let second = sign(&s, "true.psbt", &truth);
    let err = text(&second.stderr);
    assert!(
        !second.status.success(),
        "the true amounts were signed without their fee counting:\n{}",
        text(&second.stdout)
    );
    assert!(err.contains("repeat"), "{err}");
    assert!(!s.path("true-signed.psbt").exists());
    assert_eq!(s.state().reserved_total(Asset::Btc).unwrap(), reserved);
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
}

#[test]
fn true_amounts_then_lowered_amounts_is_refused() {
    let (s, wallet) = taproot_signer();
    let (truth, lowered) = true_and_lowered(&wallet);
    let first = sign(&s, "true.psbt", &truth);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(s.state().reserved_total(Asset::Btc).unwrap(), btc("0.109"));

    let second = sign(&s, "low.psbt", &lowered);
    let err = text(&second.stderr);
    assert!(
        !second.status.success(),
        "a repeat with a different outflow was signed:\n{}",
        text(&second.stdout)
    );
    assert!(err.contains("repeat"), "{err}");
    assert!(!s.path("low-signed.psbt").exists());
    assert_eq!(s.state().reserved_total(Asset::Btc).unwrap(), btc("0.109"));
    // The very same PSBT again is still signed, and reserves nothing more.
    let again = sign(&s, "true-again.psbt", &truth);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(s.state().reserved_total(Asset::Btc).unwrap(), btc("0.109"));
}
