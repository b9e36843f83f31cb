//! Issue 9 item 6 (b): a fee bump is a new transaction spending exactly the same inputs
//! with the same external outputs and a higher fee. At most one of the two can confirm
//! (they conflict on every input), so the signer charges only the fee increase against
//! its limits. Anything it cannot prove is such a replacement is a new transaction and
//! pays its full outflow: a changed external amount, an added output, a dropped input, a
//! lower fee, another wallet.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::absolute::LockTime;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, ScriptBuf};
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use support::*;

fn wpkh_signer() -> (TestSigner, WalletDescriptor) {
    let fx = fixtures();
    let (r, c, d) = wpkh_wallet(&fx);
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    s.register("hot", &r, &c);
    s.limits("1", "60", "5", "10");
    (s, d)
}

fn outside(n: u8) -> ScriptBuf {
    let mut hex = String::from("0014");
    for i in 0..20u8 {
        hex.push_str(&format!("{:02x}", i.wrapping_add(n)));
    }
    ScriptBuf::from_hex(&hex).unwrap()
}

/// Spends the first `inputs` of the salt-42 coins (0.5 BTC each), pays `payments`,
/// change to change/0 is what is left after `fee`.
fn spend(wallet: &WalletDescriptor, inputs: u32, payments: &[(ScriptBuf, Amount)], fee: Amount) -> Psbt {
    let coins = fake_coins(wallet, inputs, btc("0.5"), 42).unwrap();
    let total = btc("0.5") * u64::from(inputs);
    let paid: Amount = payments.iter().map(|(_, a)| *a).sum();
    build_psbt(
        wallet,
        &coins,
        payments,
        Some((0, total - paid - fee)),
        LockTime::ZERO,
    )
    .unwrap()
}

fn one_payment(wallet: &WalletDescriptor, inputs: u32, amount: Amount, fee: Amount) -> Psbt {
    spend(wallet, inputs, &[(outside(1), amount)], fee)
}

fn sign(s: &TestSigner, name: &str, psbt: &Psbt) -> std::process::Output {
    let path = s.path(name);
    write_psbt(&path, psbt);
    s.run(&["sign", "--yes", "--in", path.to_str().unwrap()])
}

fn sign_ok(s: &TestSigner, name: &str, psbt: &Psbt) -> String {
    let out = sign(s, name, psbt);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn reserved(s: &TestSigner) -> Amount {
    s.state().reserved_total(Asset::Btc).unwrap()
}

#[test]
fn a_fee_bump_is_charged_only_the_fee_increase() {
    let (s, wallet) = wpkh_signer();
    let original = one_payment(&wallet, 2, btc("0.1"), btc("0.0001"));
    sign_ok(&s, "original.psbt", &original);
    assert_eq!(reserved(&s), btc("0.1001"));

    let bump = one_payment(&wallet, 2, btc("0.1"), btc("0.0003"));
    assert_ne!(
        bump.unsigned_tx.compute_txid(),
        original.unsigned_tx.compute_txid()
    );
    let out = sign_ok(&s, "bump.psbt", &bump);
    assert!(
        out.contains("replaces"),
        "the review says what it replaces:\n{out}"
    );
    assert_eq!(
        reserved(&s),
        btc("0.1003"),
        "only the 0.0002 BTC fee increase is charged"
    );

    // A second bump is charged against the highest fee so far, not the first.
    let again = one_payment(&wallet, 2, btc("0.1"), btc("0.0004"));
    sign_ok(&s, "again.psbt", &again);
    assert_eq!(reserved(&s), btc("0.1004"));

    // Signing a bump once more reserves nothing.
    sign_ok(&s, "again2.psbt", &again);
    assert_eq!(reserved(&s), btc("0.1004"));

    let journal = s.ok(&["journal", "show"]);
    assert!(journal.contains(&original.unsigned_tx.compute_txid().to_string()));
    assert!(journal.contains("replaces_txid"), "{journal}");
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
}

#[test]
fn a_bump_with_inputs_in_another_order_is_still_a_replacement() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    let mut coins = fake_coins(&wallet, 2, btc("0.5"), 42).unwrap();
    coins.reverse();
    let bump = build_psbt(
        &wallet,
        &coins,
        &[(outside(1), btc("0.1"))],
        Some((0, btc("0.8997"))),
        LockTime::ZERO,
    )
    .unwrap();
    sign_ok(&s, "bump.psbt", &bump);
    assert_eq!(reserved(&s), btc("0.1003"));
}

#[test]
fn a_replacement_that_changes_an_external_amount_pays_in_full() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    sign_ok(
        &s,
        "more.psbt",
        &one_payment(&wallet, 2, btc("0.2"), btc("0.0003")),
    );
    assert_eq!(reserved(&s), btc("0.1001") + btc("0.2003"));
}

#[test]
fn a_replacement_that_pays_another_destination_pays_in_full() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    let elsewhere = spend(&wallet, 2, &[(outside(7), btc("0.1"))], btc("0.0003"));
    sign_ok(&s, "elsewhere.psbt", &elsewhere);
    assert_eq!(reserved(&s), btc("0.1001") + btc("0.1003"));
}

#[test]
fn a_replacement_that_adds_an_output_pays_in_full() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    let added = spend(
        &wallet,
        2,
        &[(outside(1), btc("0.1")), (outside(2), btc("0.05"))],
        btc("0.0003"),
    );
    sign_ok(&s, "added.psbt", &added);
    assert_eq!(reserved(&s), btc("0.1001") + btc("0.1503"));
}

#[test]
fn a_replacement_that_drops_an_input_pays_in_full() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    // Spends only the first coin: a transaction spending the second one alone could pay
    // the same output again, so this proves nothing about the original.
    sign_ok(
        &s,
        "dropped.psbt",
        &one_payment(&wallet, 1, btc("0.1"), btc("0.0003")),
    );
    assert_eq!(reserved(&s), btc("0.1001") + btc("0.1003"));
}

#[test]
fn a_replacement_that_adds_an_input_pays_in_full() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    sign_ok(
        &s,
        "three.psbt",
        &one_payment(&wallet, 3, btc("0.1"), btc("0.0003")),
    );
    assert_eq!(reserved(&s), btc("0.1001") + btc("0.1003"));
}

#[test]
fn a_replacement_with_a_lower_or_equal_fee_pays_in_full() {
    let (s, wallet) = wpkh_signer();
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0003")),
    );
    sign_ok(
        &s,
        "lower.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0002")),
    );
    assert_eq!(reserved(&s), btc("0.1003") + btc("0.1002"));
    // Same fee, different transaction (another change index): also a new transaction.
    let coins = fake_coins(&wallet, 2, btc("0.5"), 42).unwrap();
    let same_fee = build_psbt(
        &wallet,
        &coins,
        &[(outside(1), btc("0.1"))],
        Some((1, btc("0.8997"))),
        LockTime::ZERO,
    )
    .unwrap();
    sign_ok(&s, "same.psbt", &same_fee);
    assert_eq!(reserved(&s), btc("0.1003") + btc("0.1002") + btc("0.1003"));
}

#[test]
fn a_fee_bump_over_the_limits_is_refused_and_reserves_nothing() {
    let fx = fixtures();
    let (r, c, wallet) = wpkh_wallet(&fx);
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    s.register("hot", &r, &c);
    // Total 0.1002: the original fits, a bump of 0.0002 does not, a bump of 0.0001 does.
    s.limits("1", "60", "5", "0.1002");
    sign_ok(
        &s,
        "original.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0001")),
    );
    let too_much = sign(
        &s,
        "big.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0003")),
    );
    assert!(!too_much.status.success());
    assert_eq!(reserved(&s), btc("0.1001"));
    sign_ok(
        &s,
        "small.psbt",
        &one_payment(&wallet, 2, btc("0.1"), btc("0.0002")),
    );
    assert_eq!(reserved(&s), btc("0.1002"));
}
