//! The signer side of the coordinator's HTTP API (`/v1/signer/...`): message types and how
//! a signer authenticates each request with its identity key.
//!
//! A request carries four headers: [`SIGNER_ID_HEADER`], [`TIMESTAMP_HEADER`] (Unix
//! seconds), [`NONCE_HEADER`] (16 random bytes, hex) and [`SIGNATURE_HEADER`]: a BIP340
//! signature by the signer's identity key over [`request_digest`], a tagged hash of the
//! method, the path with its query, the timestamp, the nonce and the SHA-256 of the body.
//! The coordinator accepts it only from a registered, active signer, within
//! [`MAX_CLOCK_SKEW_SECS`] of its own clock, with a nonce it has not seen in that window.
//! Every signer endpoint is read-only or idempotent, so a replay could at worst repeat an
//! answer; the window and nonce make even that impossible within one API process.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{schnorr, Keypair, Message, Secp256k1, Signing, Verification, XOnlyPublicKey};
use serde::{Deserialize, Serialize};

use crate::identity::{tagged_hash, SignerId};

pub const SIGNER_ID_HEADER: &str = "sluice-signer-id";
pub const TIMESTAMP_HEADER: &str = "sluice-timestamp";
pub const NONCE_HEADER: &str = "sluice-nonce";
pub const SIGNATURE_HEADER: &str = "sluice-signature";

/// How far a request's timestamp may be from the coordinator's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 120;

/// The largest body a signer may post: a signed PSBT with full previous transactions.
pub const MAX_SIGNER_BODY_BYTES: usize = 8 * 1024 * 1024;

const REQUEST_TAG: &str = "sluice/signer-request/v1";

/// The authentication headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    pub signer: SignerId,
    pub timestamp: i64,
    pub nonce: [u8; 16],
    pub signature: schnorr::Signature,
}

/// Why a request's authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefusal {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} is malformed")]
    MalformedHeader(&'static str),
    #[error("unknown or deactivated signer {0}: register it with `sluice-coordinator signer add`")]
    UnknownSigner(SignerId),
    #[error("the request's timestamp is {skew} s from the coordinator's clock (at most {MAX_CLOCK_SKEW_SECS} s): check both clocks")]
    StaleTimestamp { skew: i64 },
    #[error("this request was already received (replayed nonce)")]
    ReplayedNonce,
    #[error("the request signature does not verify with signer {0}'s identity key")]
    BadSignature(SignerId),
}

/// The parts of an HTTP request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// `/v1/signer/...` with its query, if any.
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// What the signature commits to.
pub fn request_digest(request: &RequestParts<'_>, timestamp: i64, nonce: &[u8; 16]) -> [u8; 32] {
    let RequestParts {
        method,
        path_and_query,
        body,
    } = *request;
    let mut data = Vec::with_capacity(method.len() + path_and_query.len() + 96);
    for field in [method.as_bytes(), path_and_query.as_bytes()] {
        data.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        data.extend_from_slice(field);
    }
    data.extend_from_slice(&timestamp.to_be_bytes());
    data.extend_from_slice(nonce);
    data.extend_from_slice(sha256::Hash::hash(body).as_byte_array());
    tagged_hash(REQUEST_TAG, &data)
}

/// Signs a request (the signer's side). `aux` is fresh randomness for BIP340.
pub fn sign_request<C: Signing>(
    secp: &Secp256k1<C>,
    identity: &Keypair,
    request: &RequestParts<'_>,
    timestamp: i64,
    nonce: [u8; 16],
    aux: [u8; 32],
) -> RequestAuth {
    let digest = request_digest(request, timestamp, &nonce);
    let signature = secp.sign_schnorr_with_aux_rand(&Message::from_digest(digest), identity, &aux);
    RequestAuth {
        signer: SignerId::from_identity_key(&identity.x_only_public_key().0),
        timestamp,
        nonce,
        signature,
    }
}

impl RequestAuth {
    /// The header values, in the order of the header-name constants.
    pub fn header_values(&self) -> [(&'static str, String); 4] {
        [
            (SIGNER_ID_HEADER, self.signer.to_string()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (NONCE_HEADER, hex::encode(self.nonce)),
            (SIGNATURE_HEADER, hex::encode(self.signature.serialize())),
        ]
    }

    /// Parses the headers; `get` returns a header's value by name.
    pub fn from_headers<'a>(
        get: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<RequestAuth, AuthRefusal> {
        let header = |name| get(name).map(str::trim).ok_or(AuthRefusal::MissingHeader(name));
        let signer = header(SIGNER_ID_HEADER)?
            .parse()
            .map_err(|_| AuthRefusal::MalformedHeader(SIGNER_ID_HEADER))?;
        let timestamp = header(TIMESTAMP_HEADER)?
            .parse()
            .map_err(|_| AuthRefusal::MalformedHeader(TIMESTAMP_HEADER))?;
        let nonce = hex::decode(header(NONCE_HEADER)?)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or(AuthRefusal::MalformedHeader(NONCE_HEADER))?;
        let signature = hex::decode(header(SIGNATURE_HEADER)?)
            .ok()
            .and_then(|b| schnorr::Signature::from_slice(&b).ok())
            .ok_or(AuthRefusal::MalformedHeader(SIGNATURE_HEADER))?;
        Ok(RequestAuth {
            signer,
            timestamp,
            nonce,
            signature,
        })
    }

    /// Checks the signature with the registered identity key and the timestamp against
    /// `now`. The nonce cache is the caller's (it is state).
    pub fn verify<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
        identity_key: &XOnlyPublicKey,
        request: &RequestParts<'_>,
        now: i64,
    ) -> Result<(), AuthRefusal> {
        if SignerId::from_identity_key(identity_key) != self.signer {
            return Err(AuthRefusal::BadSignature(self.signer));
        }
        let skew = self.timestamp.saturating_sub(now);
        if skew.abs() > MAX_CLOCK_SKEW_SECS {
            return Err(AuthRefusal::StaleTimestamp { skew });
        }
        let digest = request_digest(request, self.timestamp, &self.nonce);
        secp.verify_schnorr(&self.signature, &Message::from_digest(digest), identity_key)
            .map_err(|_| AuthRefusal::BadSignature(self.signer))
    }
}

/// `GET /v1/signer/sessions`: open sessions that need this signer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<SessionOffer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionOffer {
    pub id: u64,
    pub wallet: String,
    /// The PSBT, base64.
    pub psbt: String,
}

/// `POST /v1/signer/sessions/{id}/signatures`: the signer's signed PSBT, base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedSession {
    pub psbt: String,
}

/// The reply to a [`SignedSession`]: what storing the signatures did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureReceipt {
    /// Signatures stored now.
    pub stored: usize,
    /// Signatures that were already stored (a retried submission).
    pub already_stored: usize,
    /// Whether the session now has every signature it needs.
    pub session_signed: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    fn signed(body: &[u8]) -> (Secp256k1<bitcoin::secp256k1::All>, Keypair, RequestAuth) {
        let secp = Secp256k1::new();
        let identity = Keypair::from_seckey_slice(&secp, &[3; 32]).unwrap();
        let request = RequestParts {
            method: "POST",
            path_and_query: "/v1/signer/sessions/7/signatures",
            body,
        };
        let auth = sign_request(&secp, &identity, &request, 1_000, [1; 16], [0; 32]);
        (secp, identity, auth)
    }

    fn req<'a>(method: &'a str, path_and_query: &'a str, body: &'a [u8]) -> RequestParts<'a> {
        RequestParts {
            method,
            path_and_query,
            body,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_survives_its_headers() {
        let (secp, identity, auth) = signed(b"{}");
        let headers = auth.header_values();
        let parsed = RequestAuth::from_headers(|name| {
            headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
        })
        .unwrap();
        assert_eq!(parsed, auth);
        let key = identity.x_only_public_key().0;
        parsed
            .verify(
                &secp,
                &key,
                &req("POST", "/v1/signer/sessions/7/signatures", b"{}"),
                1_050,
            )
            .unwrap();
    }

    #[test]
    fn every_changed_field_or_wrong_key_is_refused() {
        let (secp, identity, auth) = signed(b"{}");
        let key = identity.x_only_public_key().0;
        let path = "/v1/signer/sessions/7/signatures";
        let bad = AuthRefusal::BadSignature(auth.signer);
        assert_eq!(
            auth.verify(&secp, &key, &req("GET", path, b"{}"), 1_000),
            Err(bad.clone())
        );
        assert_eq!(
            auth.verify(
                &secp,
                &key,
                &req("POST", "/v1/signer/sessions/8/signatures", b"{}"),
                1_000
            ),
            Err(bad.clone())
        );
        assert_eq!(
            auth.verify(&secp, &key, &req("POST", path, b"{ }"), 1_000),
            Err(bad.clone())
        );
        let mut later = auth.clone();
        later.timestamp += 1;
        assert_eq!(
            later.verify(&secp, &key, &req("POST", path, b"{}"), 1_000),
            Err(bad.clone())
        );
        let mut other_nonce = auth.clone();
        other_nonce.nonce[0] ^= 1;
        assert_eq!(
            other_nonce.verify(&secp, &key, &req("POST", path, b"{}"), 1_000),
            Err(bad.clone())
        );
        let stranger = Keypair::from_seckey_slice(&secp, &[4; 32])
            .unwrap()
            .x_only_public_key()
            .0;
        assert_eq!(
            auth.verify(&secp, &stranger, &req("POST", path, b"{}"), 1_000),
            Err(bad)
        );
        assert_eq!(
            auth.verify(
                &secp,
                &key,
                &req("POST", path, b"{}"),
                1_000 + MAX_CLOCK_SKEW_SECS + 1
            ),
            Err(AuthRefusal::StaleTimestamp {
                skew: -MAX_CLOCK_SKEW_SECS - 1
            })
        );
        assert_eq!(
            RequestAuth::from_headers(|_| None),
            Err(AuthRefusal::MissingHeader(SIGNER_ID_HEADER))
        );
        assert_eq!(
            RequestAuth::from_headers(|name| Some(if name == NONCE_HEADER { "zz" } else { "00" })),
            Err(AuthRefusal::MalformedHeader(SIGNER_ID_HEADER))
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_not_panicked_on() {
        let (secp, identity, mut auth) = signed(b"{}");
        let key = identity.x_only_public_key().0;
        let path = "/v1/signer/sessions/7/signatures";
        for timestamp in [i64::MIN, i64::MIN + 1, i64::MAX] {
            auth.timestamp = timestamp;
            assert!(matches!(
                auth.verify(&secp, &key, &req("POST", path, b"{}"), 1_000),
                Err(AuthRefusal::StaleTimestamp { .. })
            ));
        }
    }
}
