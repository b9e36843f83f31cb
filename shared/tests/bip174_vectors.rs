#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! BIP174's test vectors, verbatim from the BIP (tests/data/bip174_vectors.json): every
//! invalid PSBT must be refused by the parser our signers use, every valid one must parse
//! and serialize back to exactly the same bytes.

use bitcoin::base64::engine::general_purpose::STANDARD;
use bitcoin::base64::Engine;
use bitcoin::psbt::Psbt;

const VECTORS: &str = include_str!("data/bip174_vectors.json");

fn cases(list: &str) -> Vec<(String, Vec<u8>)> {
    let vectors: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    vectors[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let text = case["base64"].as_str().unwrap();
            (
                case["description"].as_str().unwrap().to_owned(),
                STANDARD.decode(text).unwrap(),
            )
        })
        .collect()
}

#[test]
fn invalid_psbts_are_refused() {
    let invalid = cases("invalid");
    assert_eq!(invalid.len(), 19);
    for (description, bytes) in invalid {
        assert!(Psbt::deserialize(&bytes).is_err(), "accepted: {description}");
        assert!(
            STANDARD.encode(&bytes).parse::<Psbt>().is_err(),
            "accepted as base64: {description}"
        );
    }
}

#[test]
fn valid_psbts_parse_and_reserialize_identically() {
    let valid = cases("valid");
    assert_eq!(valid.len(), 10);
    for (description, bytes) in valid {
        let psbt = Psbt::deserialize(&bytes).unwrap_or_else(|e| panic!("refused: {description}: {e}"));
        assert_eq!(
            psbt.serialize(),
            bytes,
            "re-serialized differently: {description}"
        );
        let from_text: Psbt = STANDARD.encode(&bytes).parse().unwrap();
        assert_eq!(from_text, psbt, "{description}");
        assert_eq!(from_text.to_string(), STANDARD.encode(&bytes), "{description}");
    }
}
