//! The signer side of the coordinator's HTTP API (`/v1/signer/...`): message types, how a
//! signer authenticates each request with its identity key, and how the coordinator
//! authenticates each reply with its own.
//!
//! A request carries five headers: [`SIGNER_ID_HEADER`], [`TIMESTAMP_HEADER`] (Unix
//! seconds), [`NONCE_HEADER`] (16 random bytes, hex), [`BODY_SHA256_HEADER`] (the SHA-256
//! of the body, hex) and [`SIGNATURE_HEADER`]: a BIP340 signature by the signer's identity
//! key over [`request_digest`], a tagged hash of the method, the path with its query, the
//! timestamp, the nonce and the body's SHA-256. Because the body's hash is a header, the
//! coordinator checks the signature *before* it reads the body, and then checks the body
//! against the signed hash ([`RequestAuth::check_body`]): an unauthenticated caller gets
//! no body read at all. The coordinator accepts a request only from a registered, active
//! signer, within [`MAX_CLOCK_SKEW_SECS`] of its own clock, with a nonce it has not seen
//! in that window.
//!
//! Every reply carries [`COORDINATOR_SIGNATURE_HEADER`]: a BIP340 signature by the
//! coordinator's identity key over [`reply_digest`], which binds the request (method, path,
//! signer, timestamp, nonce) to the reply (status, SHA-256 of the body). The signer knows
//! the coordinator's key from setup and acts on no reply that does not verify, so a reply
//! cannot come from anyone else, nor be replayed to another request.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{schnorr, Keypair, Message, Secp256k1, Signing, Verification, XOnlyPublicKey};
use serde::{Deserialize, Serialize};

use crate::identity::{tagged_hash, SignerId};

pub const SIGNER_ID_HEADER: &str = "sluice-signer-id";
pub const TIMESTAMP_HEADER: &str = "sluice-timestamp";
pub const NONCE_HEADER: &str = "sluice-nonce";
pub const BODY_SHA256_HEADER: &str = "sluice-body-sha256";
pub const SIGNATURE_HEADER: &str = "sluice-signature";
/// On replies: the coordinator's signature.
pub const COORDINATOR_SIGNATURE_HEADER: &str = "sluice-coordinator-signature";

/// How far a request's timestamp may be from the coordinator's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 120;

/// The largest body a signer may post: a signed PSBT with full previous transactions.
/// Read only once the request's signature has verified.
pub const MAX_SIGNER_BODY_BYTES: usize = 8 * 1024 * 1024;

const REQUEST_TAG: &str = "sluice/signer-request/v1";
const REPLY_TAG: &str = "sluice/coordinator-reply/v1";

/// The authentication headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    pub signer: SignerId,
    pub timestamp: i64,
    pub nonce: [u8; 16],
    /// The SHA-256 of the body, as signed.
    pub body_sha256: [u8; 32],
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
    #[error("the request body does not match the SHA-256 its signature covers")]
    BodyMismatch,
}

/// The parts of an HTTP request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// `/v1/signer/...` with its query, if any.
    pub path_and_query: &'a str,
    pub body_sha256: [u8; 32],
}

impl<'a> RequestParts<'a> {
    /// The parts of a request with this body.
    pub fn new(method: &'a str, path_and_query: &'a str, body: &[u8]) -> RequestParts<'a> {
        RequestParts {
            method,
            path_and_query,
            body_sha256: sha256::Hash::hash(body).to_byte_array(),
        }
    }
}

/// Length-prefixed fields, so no two different field lists hash alike.
fn framed(fields: &[&[u8]]) -> Vec<u8> {
    let mut data = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        data.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        data.extend_from_slice(field);
    }
    data
}

/// What the signature commits to.
pub fn request_digest(request: &RequestParts<'_>, timestamp: i64, nonce: &[u8; 16]) -> [u8; 32] {
    let RequestParts {
        method,
        path_and_query,
        body_sha256,
    } = *request;
    let mut data = framed(&[method.as_bytes(), path_and_query.as_bytes()]);
    data.extend_from_slice(&timestamp.to_be_bytes());
    data.extend_from_slice(nonce);
    data.extend_from_slice(&body_sha256);
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
        body_sha256: request.body_sha256,
        signature,
    }
}

impl RequestAuth {
    /// The header values, in the order of the header-name constants.
    pub fn header_values(&self) -> [(&'static str, String); 5] {
        [
            (SIGNER_ID_HEADER, self.signer.to_string()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (NONCE_HEADER, hex::encode(self.nonce)),
            (BODY_SHA256_HEADER, hex::encode(self.body_sha256)),
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
        let body_sha256 = hex::decode(header(BODY_SHA256_HEADER)?)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(AuthRefusal::MalformedHeader(BODY_SHA256_HEADER))?;
        let signature = hex::decode(header(SIGNATURE_HEADER)?)
            .ok()
            .and_then(|b| schnorr::Signature::from_slice(&b).ok())
            .ok_or(AuthRefusal::MalformedHeader(SIGNATURE_HEADER))?;
        Ok(RequestAuth {
            signer,
            timestamp,
            nonce,
            body_sha256,
            signature,
        })
    }

    /// Checks the signature with the registered identity key and the timestamp against
    /// `now`, for the request line given and the body hash the headers declare (the body
    /// itself is checked by [`RequestAuth::check_body`] once read). The nonce cache is the
    /// caller's (it is state).
    pub fn verify<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
        identity_key: &XOnlyPublicKey,
        method: &str,
        path_and_query: &str,
        now: i64,
    ) -> Result<(), AuthRefusal> {
        if SignerId::from_identity_key(identity_key) != self.signer {
            return Err(AuthRefusal::BadSignature(self.signer));
        }
        // Checked arithmetic: a timestamp near i64::MIN or i64::MAX is stale, not a panic.
        let skew = self.timestamp.checked_sub(now);
        match skew.and_then(i64::checked_abs) {
            Some(distance) if distance <= MAX_CLOCK_SKEW_SECS => {}
            _ => {
                return Err(AuthRefusal::StaleTimestamp {
                    skew: self.timestamp.saturating_sub(now),
                })
            }
        }
        let parts = RequestParts {
            method,
            path_and_query,
            body_sha256: self.body_sha256,
        };
        let digest = request_digest(&parts, self.timestamp, &self.nonce);
        secp.verify_schnorr(&self.signature, &Message::from_digest(digest), identity_key)
            .map_err(|_| AuthRefusal::BadSignature(self.signer))
    }

    /// Checks the body read against the SHA-256 the signature covers.
    pub fn check_body(&self, body: &[u8]) -> Result<(), AuthRefusal> {
        if sha256::Hash::hash(body).to_byte_array() == self.body_sha256 {
            Ok(())
        } else {
            Err(AuthRefusal::BodyMismatch)
        }
    }

    /// The request as a reply to it must bind it.
    pub fn reply_context<'a>(&self, method: &'a str, path_and_query: &'a str) -> ReplyContext<'a> {
        ReplyContext {
            method,
            path_and_query,
            signer: self.signer,
            timestamp: self.timestamp,
            nonce: self.nonce,
        }
    }
}

/// The request a reply answers: what the coordinator's reply signature binds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyContext<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub signer: SignerId,
    pub timestamp: i64,
    pub nonce: [u8; 16],
}

/// Why a reply was not accepted as the coordinator's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefusal {
    #[error("the reply carries no coordinator signature (header {COORDINATOR_SIGNATURE_HEADER}): it does not come from the coordinator this signer was set up with")]
    Unsigned,
    #[error("the reply's coordinator signature (header {COORDINATOR_SIGNATURE_HEADER}) is malformed")]
    Malformed,
    #[error("the reply's signature does not verify with the coordinator key this signer was set up with (another coordinator, a tampered reply, or a reply to another request)")]
    BadSignature,
}

/// What the coordinator's reply signature commits to: the request and the reply.
pub fn reply_digest(request: &ReplyContext<'_>, status: u16, body: &[u8]) -> [u8; 32] {
    let mut data = framed(&[request.method.as_bytes(), request.path_and_query.as_bytes()]);
    data.extend_from_slice(&request.signer.0);
    data.extend_from_slice(&request.timestamp.to_be_bytes());
    data.extend_from_slice(&request.nonce);
    data.extend_from_slice(&status.to_be_bytes());
    data.extend_from_slice(sha256::Hash::hash(body).as_byte_array());
    tagged_hash(REPLY_TAG, &data)
}

/// Signs a reply (the coordinator's side); the header value, hex.
pub fn sign_reply<C: Signing>(
    secp: &Secp256k1<C>,
    coordinator: &Keypair,
    request: &ReplyContext<'_>,
    status: u16,
    body: &[u8],
    aux: [u8; 32],
) -> String {
    let digest = reply_digest(request, status, body);
    hex::encode(
        secp.sign_schnorr_with_aux_rand(&Message::from_digest(digest), coordinator, &aux)
            .serialize(),
    )
}

/// Checks a reply's [`COORDINATOR_SIGNATURE_HEADER`] value (the signer's side).
pub fn verify_reply<C: Verification>(
    secp: &Secp256k1<C>,
    coordinator_key: &XOnlyPublicKey,
    request: &ReplyContext<'_>,
    status: u16,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), ReplyRefusal> {
    let signature = signature.ok_or(ReplyRefusal::Unsigned)?;
    let signature = hex::decode(signature.trim())
        .ok()
        .and_then(|b| schnorr::Signature::from_slice(&b).ok())
        .ok_or(ReplyRefusal::Malformed)?;
    let digest = reply_digest(request, status, body);
    secp.verify_schnorr(&signature, &Message::from_digest(digest), coordinator_key)
        .map_err(|_| ReplyRefusal::BadSignature)
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

/// `POST /v1/signer/sessions/{id}/refusals`: why this signer does not sign the session
/// (now). The coordinator keeps the latest per session and signer and shows it on the
/// session's withdrawals and in `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalReport {
    /// One of [`REFUSAL_REASONS`].
    pub reason: String,
    /// The signer's words (at most [`MAX_REFUSAL_DETAIL_CHARS`] characters).
    pub detail: String,
}

/// The refusal reasons a signer reports: the limiter's (`rate`, `exceeds_burst`,
/// `total_spent`, `paused`, `invalid_rate`) and `inspection` (the PSBT itself was refused).
pub const REFUSAL_REASONS: [&str; 6] = [
    "rate",
    "exceeds_burst",
    "total_spent",
    "paused",
    "invalid_rate",
    "inspection",
];

/// The longest refusal detail the coordinator keeps.
pub const MAX_REFUSAL_DETAIL_CHARS: usize = 500;

/// The reply to a [`RefusalReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalReceipt {
    pub recorded: bool,
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

    const PATH: &str = "/v1/signer/sessions/7/signatures";

    fn signed(body: &[u8]) -> (Secp256k1<bitcoin::secp256k1::All>, Keypair, RequestAuth) {
        let secp = Secp256k1::new();
        let identity = Keypair::from_seckey_slice(&secp, &[3; 32]).unwrap();
        let request = RequestParts::new("POST", PATH, body);
        let auth = sign_request(&secp, &identity, &request, 1_000, [1; 16], [0; 32]);
        (secp, identity, auth)
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
        parsed.verify(&secp, &key, "POST", PATH, 1_050).unwrap();
        parsed.check_body(b"{}").unwrap();
        assert_eq!(parsed.check_body(b"{ }"), Err(AuthRefusal::BodyMismatch));
    }

    #[test]
    fn every_changed_field_or_wrong_key_is_refused() {
        let (secp, identity, auth) = signed(b"{}");
        let key = identity.x_only_public_key().0;
        let bad = AuthRefusal::BadSignature(auth.signer);
        assert_eq!(auth.verify(&secp, &key, "GET", PATH, 1_000), Err(bad.clone()));
        assert_eq!(
            auth.verify(&secp, &key, "POST", "/v1/signer/sessions/8/signatures", 1_000),
            Err(bad.clone())
        );
        let mut other_body = auth.clone();
        other_body.body_sha256[0] ^= 1;
        assert_eq!(
            other_body.verify(&secp, &key, "POST", PATH, 1_000),
            Err(bad.clone())
        );
        let mut later = auth.clone();
        later.timestamp += 1;
        assert_eq!(later.verify(&secp, &key, "POST", PATH, 1_000), Err(bad.clone()));
        let mut other_nonce = auth.clone();
        other_nonce.nonce[0] ^= 1;
        assert_eq!(
            other_nonce.verify(&secp, &key, "POST", PATH, 1_000),
            Err(bad.clone())
        );
        let stranger = Keypair::from_seckey_slice(&secp, &[4; 32])
            .unwrap()
            .x_only_public_key()
            .0;
        assert_eq!(auth.verify(&secp, &stranger, "POST", PATH, 1_000), Err(bad));
        assert_eq!(
            auth.verify(&secp, &key, "POST", PATH, 1_000 + MAX_CLOCK_SKEW_SECS + 1),
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
        for timestamp in [i64::MIN, i64::MIN + 1, i64::MAX] {
            auth.timestamp = timestamp;
            assert!(matches!(
                auth.verify(&secp, &key, "POST", PATH, 1_000),
                Err(AuthRefusal::StaleTimestamp { .. })
            ));
        }
        // And with the coordinator's clock at the other extreme.
        auth.timestamp = i64::MAX;
        assert!(matches!(
            auth.verify(&secp, &key, "POST", PATH, i64::MIN),
            Err(AuthRefusal::StaleTimestamp { .. })
        ));
    }

    #[test]
    fn a_reply_verifies_only_for_its_request_status_body_and_key() {
        let (secp, _, auth) = signed(b"{}");
        let coordinator = Keypair::from_seckey_slice(&secp, &[9; 32]).unwrap();
        let key = coordinator.x_only_public_key().0;
        let request = auth.reply_context("POST", PATH);
        let sig = sign_reply(&secp, &coordinator, &request, 200, b"ok", [5; 32]);
        verify_reply(&secp, &key, &request, 200, b"ok", Some(&sig)).unwrap();
        let refused = |request: &ReplyContext<'_>, status, body: &[u8], sig: Option<&str>| {
            verify_reply(&secp, &key, request, status, body, sig).unwrap_err()
        };
        assert_eq!(refused(&request, 200, b"ok", None), ReplyRefusal::Unsigned);
        assert_eq!(refused(&request, 200, b"ok", Some("zz")), ReplyRefusal::Malformed);
        assert_eq!(
            refused(&request, 201, b"ok", Some(&sig)),
            ReplyRefusal::BadSignature
        );
        assert_eq!(
            refused(&request, 200, b"ok!", Some(&sig)),
            ReplyRefusal::BadSignature
        );
        let mut other = request;
        other.nonce[0] ^= 1;
        assert_eq!(
            refused(&other, 200, b"ok", Some(&sig)),
            ReplyRefusal::BadSignature
        );
        let mut other = request;
        other.timestamp += 1;
        assert_eq!(
            refused(&other, 200, b"ok", Some(&sig)),
            ReplyRefusal::BadSignature
        );
        let other = auth.reply_context("GET", PATH);
        assert_eq!(
            refused(&other, 200, b"ok", Some(&sig)),
            ReplyRefusal::BadSignature
        );
        let stranger = Keypair::from_seckey_slice(&secp, &[8; 32]).unwrap();
        let forged = sign_reply(&secp, &stranger, &request, 200, b"ok", [5; 32]);
        assert_eq!(
            refused(&request, 200, b"ok", Some(&forged)),
            ReplyRefusal::BadSignature
        );
    }
}
