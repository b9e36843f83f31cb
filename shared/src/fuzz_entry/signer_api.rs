//! The signer API both ways: what the coordinator decodes from a signer (authentication
//! headers, the signed-PSBT body) and what a signer decodes from the coordinator (the
//! session list with its PSBTs, the signature receipt, an error body).

use std::str::FromStr;
use std::sync::OnceLock;

use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey, VerifyOnly};

use super::{check_inspection, check_psbt_round_trip, FUZZ_NOW};
use crate::identity::SignerId;
use crate::signer_api::{
    RequestAuth, SessionList, SignatureReceipt, SignedSession, BODY_SHA256_HEADER, MAX_CLOCK_SKEW_SECS,
    NONCE_HEADER, SIGNATURE_HEADER, SIGNER_ID_HEADER, TIMESTAMP_HEADER,
};

/// The path the request target's seeds sign; a mutated path fails the signature.
pub const SIGNER_REQUEST_PATH: &str = "/v1/signer/sessions/7/signatures";

/// The identity key of the signer the request target verifies for: secret key `[9; 32]`.
pub fn fuzz_identity() -> Keypair {
    let secret = SecretKey::from_slice(&[9; 32]).expect("[9; 32] is a valid key");
    Keypair::from_secret_key(&Secp256k1::signing_only(), &secret)
}

fn verifier() -> &'static Secp256k1<VerifyOnly> {
    static SECP: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
    SECP.get_or_init(Secp256k1::verification_only)
}

/// Splits `data` at its first `n` newlines: `n` lines (not necessarily UTF-8) and the rest.
fn lines(data: &[u8], n: usize) -> (Vec<&[u8]>, &[u8]) {
    let mut fields = Vec::with_capacity(n);
    let mut rest = data;
    while fields.len() < n {
        match rest.iter().position(|&b| b == b'\n') {
            Some(at) => {
                fields.push(&rest[..at]);
                rest = &rest[at + 1..];
            }
            None => break,
        }
    }
    (fields, rest)
}

/// A request as the coordinator receives it from a signer. Layout: five lines with the
/// values of the `sluice-signer-id`, `sluice-timestamp`, `sluice-nonce`,
/// `sluice-body-sha256` and `sluice-signature` headers (a line that is not UTF-8 is a missing header), a line
/// `METHOD PATH`, then the body. Whatever parses re-encodes to the same headers;
/// whatever verifies was signed by the fuzz identity within the clock window; a body
/// that decodes as a signed session has its PSBT parsed and inspected.
pub fn signer_request(data: &[u8]) {
    let (fields, body) = lines(data, 6);
    let value = |i: usize| fields.get(i).and_then(|f| std::str::from_utf8(f).ok());
    let names = [
        SIGNER_ID_HEADER,
        TIMESTAMP_HEADER,
        NONCE_HEADER,
        BODY_SHA256_HEADER,
        SIGNATURE_HEADER,
    ];
    let header = |name: &'static str| names.iter().position(|n| *n == name).and_then(value);
    let (method, path) = value(5)
        .and_then(|line| line.split_once(' '))
        .unwrap_or(("POST", SIGNER_REQUEST_PATH));
    if let Ok(auth) = RequestAuth::from_headers(header) {
        let encoded = auth.header_values();
        let again = RequestAuth::from_headers(|name| {
            encoded.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
        });
        assert_eq!(again.as_ref(), Ok(&auth), "headers changed in a round trip");
        let identity = fuzz_identity().x_only_public_key().0;
        if auth.verify(verifier(), &identity, method, path, FUZZ_NOW).is_ok() && auth.check_body(body).is_ok()
        {
            assert_eq!(auth.signer, SignerId::from_identity_key(&identity));
            let skew = i128::from(auth.timestamp) - i128::from(FUZZ_NOW);
            assert!(skew.abs() <= i128::from(MAX_CLOCK_SKEW_SECS));
        }
    }
    if let Ok(SignedSession { psbt }) = serde_json::from_slice::<SignedSession>(body) {
        if let Ok(psbt) = Psbt::from_str(psbt.trim()) {
            check_psbt_round_trip(&psbt);
            check_inspection(&psbt);
        }
    }
}

/// A reply as a signer receives it from the coordinator: the session list (each offer's
/// PSBT parsed and inspected), a signature receipt, or an error body. Whatever decodes
/// re-encodes to a value that decodes the same.
pub fn signer_reply(data: &[u8]) {
    if let Ok(list) = serde_json::from_slice::<SessionList>(data) {
        let again: SessionList =
            serde_json::from_slice(&serde_json::to_vec(&list).expect("a session list encodes"))
                .expect("an encoded session list decodes");
        assert_eq!(again, list);
        for offer in list.sessions.iter().take(16) {
            if let Ok(psbt) = Psbt::from_str(offer.psbt.trim()) {
                check_psbt_round_trip(&psbt);
                check_inspection(&psbt);
            }
        }
    }
    if let Ok(receipt) = serde_json::from_slice::<SignatureReceipt>(data) {
        let again: SignatureReceipt =
            serde_json::from_slice(&serde_json::to_vec(&receipt).expect("a receipt encodes"))
                .expect("an encoded receipt decodes");
        assert_eq!(again, receipt);
    }
    // A refusal: the signer quotes `error.message` when there is one.
    let value: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    let _ = value["error"]["message"].as_str();
}
