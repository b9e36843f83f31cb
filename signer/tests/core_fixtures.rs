//! Issue: "Against a real node's output" — restoring the fixture keys and signing Core's
//! unsigned PSBTs with the real binary yields PSBTs that finalize (2 of 3 for the
//! multisig) into transactions Bitcoin Core's interpreter accepts, with the same outflow.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::Amount;
use sluice_shared::finalize::{combine, finalize};
use support::*;

fn fixture_amount(v: &serde_json::Value) -> Amount {
    Amount::from_str_in(
        &format!("{:.8}", v.as_f64().unwrap()),
        bitcoin::Denomination::Bitcoin,
    )
    .unwrap()
}

#[test]
fn signing_cores_psbts_finalizes_into_valid_transactions_with_cores_outflow() {
    let fx = fixtures();
    for (wallet, signers) in [
        ("wpkh_single", &["A"][..]),
        ("wsh_2of3", &["A", "B"][..]),
        ("tr_single", &["A"][..]),
    ] {
        let w = &fx["wallets"][wallet];
        let mut signed = Vec::new();
        for key in signers {
            let s = TestSigner::new();
            s.init_from_tprv(fx["keys"][key]["master_tprv"].as_str().unwrap(), &[]);
            s.register(
                wallet,
                w["descriptor_receive"].as_str().unwrap(),
                w["descriptor_change"].as_str().unwrap(),
            );
            s.limits("1", "60", "5", "10");
            let unsigned = s.path(&format!("{wallet}.psbt"));
            std::fs::write(&unsigned, w["unsigned_psbt"].as_str().unwrap()).unwrap(); // base64 on input
            let out = s.ok(&["sign", "--in", unsigned.to_str().unwrap(), "--yes"]);
            assert_eq!(
                amount_after(&out, "Outflow"),
                fixture_amount(&w["expected_outflow_btc"]),
                "{wallet}/{key}"
            );
            assert_eq!(
                amount_after(&out, "Fee"),
                fixture_amount(&w["fee_btc"]),
                "{wallet}/{key}"
            );
            signed.push(read_psbt(&s.path(&format!("{wallet}-signed.psbt"))));
        }
        let tx = finalize(&combine(&signed).unwrap()).unwrap_or_else(|e| panic!("{wallet}: {e}"));
        assert_eq!(
            tx.compute_txid().to_string(),
            w["txid"].as_str().unwrap(),
            "{wallet}"
        );
    }
}
