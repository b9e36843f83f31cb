//! Change is bounded by a gap above the highest change index the signer knows: change
//! parked far beyond it would be invisible to any wallet that scans with a gap limit, so
//! such a PSBT is refused (not signed, nothing reserved), through the real binary.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::absolute::LockTime;
use bitcoin::{Amount, ScriptBuf};
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use support::*;

fn signer() -> (TestSigner, sluice_shared::descriptor::WalletDescriptor) {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, d) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    s.limits("10", "3600", "10", "100");
    (s, d)
}

/// A PSBT paying 0.1 BTC out with its change at `change_index`.
fn psbt_with_change_at(
    s: &TestSigner,
    wallet: &sluice_shared::descriptor::WalletDescriptor,
    change_index: u32,
    salt: u32,
) -> std::path::PathBuf {
    let coins = fake_coins(wallet, 1, btc("1"), salt).unwrap();
    let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
    let psbt = build_psbt(
        wallet,
        &coins,
        &[(outside, btc("0.1"))],
        Some((change_index, btc("0.8999"))),
        LockTime::ZERO,
    )
    .unwrap();
    let path = s.path(&format!("change-{change_index}-{salt}.psbt"));
    write_psbt(&path, &psbt);
    path
}

fn total_spent(s: &TestSigner) -> Amount {
    s.state()
        .limits(sluice_shared::asset::Asset::Btc)
        .unwrap()
        .unwrap()
        .limiter
        .status()
        .total_spent
}

#[test]
fn change_far_beyond_the_highest_known_index_is_refused() {
    let (s, wallet) = signer();
    for index in [0x7fff_ffff, 1_000] {
        let path = psbt_with_change_at(&s, &wallet, index, index);
        let out = s.path("out.psbt");
        let err = s.fails(&[
            "sign",
            "--yes",
            "--in",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(err.contains("change index"), "{index}: {err}");
        assert!(!out.exists(), "{index}: nothing is written");
        assert_eq!(total_spent(&s), Amount::ZERO, "{index}: nothing is reserved");
    }
}

#[test]
fn the_bound_moves_up_with_the_change_this_signer_signed() {
    let (s, wallet) = signer();
    // Nothing known yet: indices 0..=999 are within the gap.
    let first = psbt_with_change_at(&s, &wallet, 999, 1);
    s.ok(&["sign", "--yes", "--in", first.to_str().unwrap()]);
    // Signed change at 999: now up to 1999.
    let second = psbt_with_change_at(&s, &wallet, 1_999, 2);
    s.ok(&["sign", "--yes", "--in", second.to_str().unwrap()]);
    let third = psbt_with_change_at(&s, &wallet, 3_000, 3);
    let err = s.fails(&["sign", "--yes", "--in", third.to_str().unwrap()]);
    assert!(err.contains("change index"), "{err}");
    // `inspect` shows the same refusal.
    let err = s.fails(&["inspect", "--in", third.to_str().unwrap()]);
    assert!(err.contains("change index"), "{err}");
}

#[test]
fn the_gap_is_set_at_registration() {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, wallet) = wpkh_wallet(&fx);
    let out = s.ok(&[
        "wallet",
        "register",
        "--name",
        "hot",
        "--descriptor",
        &r,
        "--change-descriptor",
        &c,
        "--change-gap",
        "10",
    ]);
    assert!(out.contains("up to 10 indices"), "{out}");
    s.limits("10", "3600", "10", "100");
    let beyond = psbt_with_change_at(&s, &wallet, 10, 1);
    let err = s.fails(&["sign", "--yes", "--in", beyond.to_str().unwrap()]);
    assert!(err.contains("change index 10"), "{err}");
    let within = psbt_with_change_at(&s, &wallet, 9, 2);
    s.ok(&["sign", "--yes", "--in", within.to_str().unwrap()]);
    let zero = s.fails(&[
        "wallet",
        "register",
        "--name",
        "x",
        "--descriptor",
        &r,
        "--change-descriptor",
        &c,
        "--change-gap",
        "0",
    ]);
    assert!(zero.contains("change-gap"), "{zero}");
}
