//! BIP174 test vectors, verbatim from bip-0174.mediawiki: the PSBT parser every decoder of
//! outside PSBTs goes through refuses the invalid ones and round-trips the valid one.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::collections::BTreeMap;
use std::str::FromStr;

use bitcoin::psbt::Psbt;

fn vectors() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let text = include_str!("data/bip174_vectors.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let map = |v: &serde_json::Value| -> BTreeMap<String, String> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    };
    (map(&json["valid"]), map(&json["invalid"]))
}

#[test]
fn invalid_psbts_are_refused() {
    let (_, invalid) = vectors();
    assert_eq!(invalid.len(), 9);
    for (case, base64) in invalid {
        assert!(
            Psbt::from_str(&base64).is_err(),
            "accepted an invalid PSBT: {case}"
        );
    }
}

#[test]
fn valid_psbts_parse_and_round_trip() {
    let (valid, _) = vectors();
    for (case, base64) in valid {
        let psbt = Psbt::from_str(&base64).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(psbt.to_string(), base64, "{case}: re-serialization differs");
        assert_eq!(Psbt::deserialize(&psbt.serialize()).unwrap(), psbt);
    }
}

#[test]
fn the_signer_reads_bip174_psbts_through_the_same_parser() {
    // The valid vector differs from the "missing outputs" invalid one only by its output
    // maps: the signer's file reader must accept one and refuse the other.
    let (valid, invalid) = vectors();
    let good = &valid["PSBT with one P2PKH input. Outputs are empty"];
    let bad = &invalid["PSBT missing outputs"];
    assert!(good.starts_with(&bad[..bad.len() - 8]));
    assert!(Psbt::from_str(good).is_ok() && Psbt::from_str(bad).is_err());
}
