//! Issue 14 item 4: `inspect` and `sign` accept PSBT version 2 (BIP370), as Bitcoin Core
//! 31 makes by default, with the same checks, and write the signed PSBT in the version
//! they were given. (The conversion itself, with PSBTs made by a real Core node and the
//! malformed cases, is tested in `sluice_shared::psbt_v2`.)
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::str::FromStr;

use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use sluice_shared::finalize::{combine, finalize};
use sluice_shared::psbt_v2::{self, PsbtVersion};
use support::*;

#[test]
fn version_2_psbts_are_inspected_and_signed_as_version_0_ones_and_come_back_as_version_2() {
    let fx = fixtures();
    for (wallet, signers) in [("wpkh_single", &["A"][..]), ("wsh_2of3", &["A", "B"][..])] {
        let w = &fx["wallets"][wallet];
        let unsigned = Psbt::from_str(w["unsigned_psbt"].as_str().unwrap()).unwrap();
        let v2 = psbt_v2::encode(&unsigned, &PsbtVersion::version2_for(&unsigned)).unwrap();
        assert_eq!(psbt_v2::decode(&v2).unwrap().1.number(), 2);
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
            let path = s.path("v2.psbt");
            std::fs::write(&path, &v2).unwrap();
            let review = s.ok(&["inspect", "--in", path.to_str().unwrap()]);
            assert_eq!(
                amount_after(&review, "Outflow"),
                Amount::from_str_in(
                    &format!("{:.8}", w["expected_outflow_btc"].as_f64().unwrap()),
                    bitcoin::Denomination::Bitcoin
                )
                .unwrap(),
                "{wallet}/{key}"
            );
            s.ok(&["sign", "--yes", "--in", path.to_str().unwrap()]);
            let out = std::fs::read(s.path("v2-signed.psbt")).unwrap();
            let (psbt, version) = psbt_v2::decode(&out).unwrap();
            assert_eq!(
                version.number(),
                2,
                "{wallet}/{key}: signed PSBT written as version 2"
            );
            assert_eq!(psbt.unsigned_tx, unsigned.unsigned_tx);
            signed.push(psbt);
        }
        let tx = finalize(&combine(&signed).unwrap()).unwrap_or_else(|e| panic!("{wallet}: {e}"));
        assert_eq!(
            tx.compute_txid().to_string(),
            w["txid"].as_str().unwrap(),
            "{wallet}"
        );
    }
}

#[test]
fn a_malformed_version_2_psbt_is_refused_with_the_rule() {
    let fx = fixtures();
    let w = &fx["wallets"]["wpkh_single"];
    let unsigned = Psbt::from_str(w["unsigned_psbt"].as_str().unwrap()).unwrap();
    let mut v2 = psbt_v2::encode(&unsigned, &PsbtVersion::version2_for(&unsigned)).unwrap();
    // Declare one input more than there are input maps.
    let at = v2.windows(3).position(|b| b == [0x01, 0x04, 0x01]).unwrap();
    v2[at + 3] += 1;
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    s.register(
        "wpkh_single",
        w["descriptor_receive"].as_str().unwrap(),
        w["descriptor_change"].as_str().unwrap(),
    );
    s.limits("1", "60", "5", "10");
    let path = s.path("bad.psbt");
    std::fs::write(&path, &v2).unwrap();
    let err = s.fails(&["sign", "--yes", "--in", path.to_str().unwrap()]);
    assert!(err.contains("not a valid PSBT"), "{err}");
}
