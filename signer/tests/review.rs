//! What the operator sees: the review of Bitcoin Core's PSBTs is recorded as golden text
//! (every input, every output as OUTFLOW or verified change, fee, outflow, limits before
//! and after, the decision), and `inspect` without `--wallet` finds the right wallet.
//! Set SLUICE_BLESS=1 to rewrite the golden files after an intended change.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use support::*;

fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "review differs from {path} (SLUICE_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn reviews_of_cores_psbts_match_the_golden_text() {
    let fx = fixtures();
    for (wallet, limits) in [
        ("wpkh_single", ["1", "60", "5", "10"]),
        ("wsh_2of3", ["1", "60", "5", "10"]),
        ("tr_single", ["0.1", "60", "0.5", "10"]),
    ] {
        let w = &fx["wallets"][wallet];
        let s = TestSigner::new();
        s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
        s.register(
            wallet,
            w["descriptor_receive"].as_str().unwrap(),
            w["descriptor_change"].as_str().unwrap(),
        );
        s.limits(limits[0], limits[1], limits[2], limits[3]);
        let path = s.path("core.psbt");
        std::fs::write(&path, w["unsigned_psbt"].as_str().unwrap()).unwrap();
        let review = s.ok(&["inspect", "--in", path.to_str().unwrap()]);
        golden(&format!("inspect_{wallet}.txt"), &review);
    }
}

#[test]
fn inspect_without_wallet_finds_the_wallet_the_inputs_belong_to() {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    // Three wallets with signer A's key: the PSBT's fingerprints match all of them, and
    // only inspection tells which one really owns the inputs.
    for wallet in ["wpkh_single", "wsh_2of3", "tr_single"] {
        let w = &fx["wallets"][wallet];
        s.register(
            wallet,
            w["descriptor_receive"].as_str().unwrap(),
            w["descriptor_change"].as_str().unwrap(),
        );
    }
    s.limits("1", "60", "5", "10");
    for wallet in ["wpkh_single", "wsh_2of3", "tr_single"] {
        let path = s.path(&format!("{wallet}.psbt"));
        std::fs::write(&path, fx["wallets"][wallet]["unsigned_psbt"].as_str().unwrap()).unwrap();
        let review = s.ok(&["inspect", "--in", path.to_str().unwrap()]);
        assert!(
            review.contains(&format!("Wallet      {wallet} (")),
            "{wallet}:\n{review}"
        );
        // Naming the wrong wallet is a refusal by inspection, with its rule.
        let other = if wallet == "wpkh_single" {
            "tr_single"
        } else {
            "wpkh_single"
        };
        let err = s.fails(&["inspect", "--in", path.to_str().unwrap(), "--wallet", other]);
        assert!(err.contains("refused (inspection): input 0"), "{err}");
    }
    // Inspection alone consumes nothing.
    assert_eq!(
        s.state()
            .reserved_total(sluice_shared::asset::Asset::Btc)
            .unwrap(),
        bitcoin::Amount::ZERO
    );
}
