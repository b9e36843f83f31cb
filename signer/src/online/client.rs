//! The coordinator's signer API over some [`Transport`]: every request is signed with the
//! signer's identity key, and every reply is acted on only if the coordinator's identity
//! key (given at setup) signed it for exactly that request — method, path, this signer,
//! the request's timestamp and nonce, the status and the body. A reply from anyone else,
//! or one replayed from another request, is refused and journaled.

use anyhow::{bail, Context, Result};
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, XOnlyPublicKey};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::json;
use sluice_shared::signer_api::{
    sign_request, verify_reply, RefusalReceipt, RefusalReport, ReplyRefusal, RequestParts, SessionList,
    SignatureReceipt, SignedSession,
};

use super::transport::{OutgoingRequest, Transport};
use crate::clock;
use crate::state::{self, State, StateError};

/// A reply the coordinator's key did not sign for the request it answers.
#[derive(Debug, thiserror::Error)]
#[error("{request}: refused the reply: {refusal}")]
pub struct UnauthenticatedReply {
    pub request: String,
    pub refusal: ReplyRefusal,
}

/// The coordinator's signer API over some transport.
pub struct CoordinatorClient<T: Transport> {
    transport: T,
    identity: Keypair,
    coordinator_key: XOnlyPublicKey,
}

impl<T: Transport> std::fmt::Debug for CoordinatorClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorClient")
            .field("coordinator", &self.transport.describe())
            .field("coordinator_key", &self.coordinator_key.to_string())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Drop for CoordinatorClient<T> {
    fn drop(&mut self) {
        self.identity.non_secure_erase();
    }
}

impl<T: Transport> CoordinatorClient<T> {
    /// `coordinator_key`: the coordinator's identity key, from setup.
    pub fn new(transport: T, identity: Keypair, coordinator_key: XOnlyPublicKey) -> Self {
        CoordinatorClient {
            transport,
            identity,
            coordinator_key,
        }
    }

    fn call<R: DeserializeOwned>(&self, method: &'static str, path: &str, body: Vec<u8>) -> Result<R> {
        // The process's one blinded context (a fresh `Secp256k1::new()` per request would
        // allocate and randomize a context each time); it signs with the identity key and
        // verifies the reply with the coordinator's public key.
        let secp = sluice_shared::secp::signing();
        let mut nonce = [0u8; 16];
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        rand::rngs::OsRng.fill_bytes(&mut aux);
        let parts = RequestParts::new(method, path, &body);
        let auth = sign_request(secp, &self.identity, &parts, clock::unix_now(), nonce, aux);
        let reply = self.transport.send(OutgoingRequest {
            method,
            path: path.to_owned(),
            headers: auth.header_values().to_vec(),
            body,
        })?;
        let verified = verify_reply(
            secp,
            &self.coordinator_key,
            &auth.reply_context(method, path),
            reply.status,
            &reply.body,
            reply.coordinator_signature.as_deref(),
        );
        if !(200..300).contains(&reply.status) {
            let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
            let message = value["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
            let unverified = if verified.is_ok() {
                ""
            } else {
                " (this error reply is not signed by the coordinator's key)"
            };
            bail!(
                "{method} {path}: the coordinator answered {}: {message}{unverified}",
                reply.status
            );
        }
        if let Err(refusal) = verified {
            return Err(UnauthenticatedReply {
                request: format!("{method} {path}"),
                refusal,
            }
            .into());
        }
        serde_json::from_slice(&reply.body).with_context(|| {
            format!("{method} {path}: the coordinator's reply is not what this signer expects")
        })
    }

    pub fn sessions(&self) -> Result<SessionList> {
        self.call("GET", "/v1/signer/sessions", Vec::new())
    }

    pub fn post_signatures(&self, session: u64, signed: &Psbt) -> Result<SignatureReceipt> {
        let body = serde_json::to_vec(&SignedSession {
            psbt: signed.to_string(),
        })?;
        self.call("POST", &format!("/v1/signer/sessions/{session}/signatures"), body)
    }
}

impl<T: Transport> CoordinatorClient<T> {
    /// Tells the coordinator why this signer does not sign `session` (now).
    pub fn post_refusal(&self, session: u64, reason: &str, detail: &str) -> Result<RefusalReceipt> {
        let detail: String = detail
            .chars()
            .filter(|c| !c.is_control())
            .take(sluice_shared::signer_api::MAX_REFUSAL_DETAIL_CHARS)
            .collect();
        let body = serde_json::to_vec(&RefusalReport {
            reason: reason.to_owned(),
            detail: detail.trim().to_owned(),
        })?;
        self.call("POST", &format!("/v1/signer/sessions/{session}/refusals"), body)
    }
}

/// Journals `error` if it is a refused (unauthenticated) reply.
pub fn journal_if_unauthenticated(state: &mut State, error: &anyhow::Error) -> Result<(), StateError> {
    let Some(refused) = error.downcast_ref::<UnauthenticatedReply>() else {
        return Ok(());
    };
    let tx = state.begin()?;
    state::journal(
        &tx,
        "reply-refused",
        json!({
            "rule": "coordinator-signature",
            "request": refused.request,
            "reason": refused.refusal.to_string(),
        }),
    )?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use std::sync::Mutex;

    use bitcoin::secp256k1::Secp256k1;
    use sluice_shared::signer_api::{sign_reply, RequestAuth};

    use super::super::transport::{Reply, TransportError};
    use super::*;

    /// A coordinator (or someone posing as one) answering every request with an empty
    /// session list, signed by `signing_key` if any.
    struct FakeCoordinator {
        signing_key: Option<Keypair>,
        /// Answer every request with the first reply ever sent (a replay).
        replay: bool,
        sent: Mutex<Vec<Reply>>,
    }

    impl Transport for FakeCoordinator {
        fn send(&self, request: OutgoingRequest) -> Result<Reply, TransportError> {
            if self.replay {
                if let Some(first) = self.sent.lock().unwrap().first() {
                    return Ok(first.clone());
                }
            }
            let auth = RequestAuth::from_headers(|name| {
                request
                    .headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
            })
            .unwrap();
            let body = br#"{"sessions": []}"#.to_vec();
            let coordinator_signature = self.signing_key.as_ref().map(|key| {
                sign_reply(
                    &Secp256k1::new(),
                    key,
                    &auth.reply_context(request.method, &request.path),
                    200,
                    &body,
                    [1; 32],
                )
            });
            let reply = Reply {
                status: 200,
                coordinator_signature,
                body,
            };
            self.sent.lock().unwrap().push(reply.clone());
            Ok(reply)
        }

        fn describe(&self) -> String {
            "fake".into()
        }
    }

    fn key(byte: u8) -> Keypair {
        Keypair::from_seckey_slice(&Secp256k1::new(), &[byte; 32]).unwrap()
    }

    fn client(signing_key: Option<Keypair>, replay: bool) -> CoordinatorClient<FakeCoordinator> {
        let transport = FakeCoordinator {
            signing_key,
            replay,
            sent: Mutex::new(Vec::new()),
        };
        CoordinatorClient::new(transport, key(1), key(2).x_only_public_key().0)
    }

    fn refusal(result: Result<SessionList>) -> ReplyRefusal {
        result
            .unwrap_err()
            .downcast::<UnauthenticatedReply>()
            .unwrap()
            .refusal
    }

    #[test]
    fn only_replies_signed_by_the_trusted_coordinator_for_this_request_are_accepted() {
        assert!(client(Some(key(2)), false)
            .sessions()
            .unwrap()
            .sessions
            .is_empty());
        assert_eq!(refusal(client(None, false).sessions()), ReplyRefusal::Unsigned);
        assert_eq!(
            refusal(client(Some(key(3)), false).sessions()),
            ReplyRefusal::BadSignature
        );
        // A genuine reply, replayed to the next request, is refused.
        let replaying = client(Some(key(2)), true);
        replaying.sessions().unwrap();
        assert_eq!(refusal(replaying.sessions()), ReplyRefusal::BadSignature);
    }
}
