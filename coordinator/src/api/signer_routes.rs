//! The `/v1/signer/...` routes, for online signers. Each request is authenticated by the
//! signer's identity key (`sluice_shared::signer_api`), not by a staff token:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | /v1/signer/sessions | open sessions that need this signer's signature |
//! | POST | /v1/signer/sessions/{id}/signatures | the signer's signed PSBT (`{"psbt": base64}`) |
//! | POST | /v1/signer/sessions/{id}/refusals | why the signer does not sign it (`RefusalReport`) |
//!
//! The signature check runs before anything else, on the headers alone (they sign the
//! body's SHA-256), so an unauthenticated caller learns nothing and has no byte of its
//! body read; the body is then read (bounded in size and time) and checked against the
//! signed hash. Every reply to an authenticated request carries the coordinator's
//! signature (`CoordinatorIdentity::sign_reply`), bound to that request. Every partial
//! signature is verified against the session's own transaction before it is stored
//! (`rules::signatures`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bitcoin::psbt::Psbt;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use sluice_shared::signer_api::{
    AuthRefusal, RefusalReceipt, RefusalReport, ReplyContext, RequestAuth, SessionList, SessionOffer,
    SignedSession, COORDINATOR_SIGNATURE_HEADER, MAX_CLOCK_SKEW_SECS, MAX_SIGNER_BODY_BYTES,
};

use super::pool::CoordinatorPool;
use super::reply::{error, json, service_error, Reply};
use super::routes::{parse_json, read_body, Failure, HttpError};
use crate::clock;
use crate::db::signers::SignerRecord;
use crate::service::{OnlineSignatures, ServiceError};

/// Nonces seen within the clock-skew window, per API process.
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: Mutex<HashMap<[u8; 16], i64>>,
}

impl NonceCache {
    /// Records `nonce`; false if it was already seen inside the window.
    fn first_use(&self, nonce: [u8; 16], now: i64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false; // fail closed
        };
        seen.retain(|_, at| now.saturating_sub(*at) <= 2 * MAX_CLOCK_SKEW_SECS);
        seen.insert(nonce, now).is_none()
    }
}

enum SignerRoute {
    Sessions,
    Signatures(u64),
    Refusals(u64),
}

fn route(method: &Method, path: &str) -> Result<SignerRoute, HttpError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let wrong_method = |allowed: &'static str| {
        let mut e = HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}; use {allowed}"),
        );
        e.allow = Some(allowed);
        e
    };
    match segments.as_slice() {
        ["v1", "signer", "sessions"] if *method == Method::GET => Ok(SignerRoute::Sessions),
        ["v1", "signer", "sessions"] => Err(wrong_method("GET")),
        ["v1", "signer", "sessions", id, what @ ("signatures" | "refusals")] => {
            let id = id.parse().map_err(|_| {
                HttpError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("{id:?} is not a session id"),
                )
            })?;
            if *method != Method::POST {
                Err(wrong_method("POST"))
            } else if *what == "signatures" {
                Ok(SignerRoute::Signatures(id))
            } else {
                Ok(SignerRoute::Refusals(id))
            }
        }
        _ => Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such endpoint: {path}"),
        )),
    }
}

fn unauthorized(refusal: &AuthRefusal) -> Reply {
    tracing::warn!("signer request refused: {refusal}");
    error(
        StatusCode::UNAUTHORIZED,
        "signer_unauthenticated",
        &refusal.to_string(),
    )
}

pub async fn handle(pool: Arc<CoordinatorPool>, request: Request<Incoming>) -> Reply {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let route = match route(&method, request.uri().path()) {
        Ok(route) => route,
        Err(refusal) => return refusal.into_reply(),
    };
    let auth =
        match RequestAuth::from_headers(|name| request.headers().get(name).and_then(|v| v.to_str().ok())) {
            Ok(auth) => auth,
            Err(refusal) => return unauthorized(&refusal),
        };
    // Authenticate on the headers alone (they sign the body's hash): an unauthenticated
    // caller gets no byte of its body read.
    let signer = {
        let (pool, auth, method, path_and_query) =
            (pool.clone(), auth.clone(), method.clone(), path_and_query.clone());
        tokio::task::spawn_blocking(move || authenticate(&pool, &auth, method.as_str(), &path_and_query))
            .await
    };
    let signer = match signer {
        Ok(Ok(signer)) => signer,
        Ok(Err(Failure::Http(refusal))) => return refusal.into_reply(),
        Ok(Err(Failure::Service(e))) => return service_error(&e),
        Err(join) => return internal(&join),
    };
    // From here on the request is the signer's: every reply is signed for it.
    let context = auth.reply_context(method.as_str(), &path_and_query);
    let reply = match read_body(request, MAX_SIGNER_BODY_BYTES).await {
        Ok(body) => match auth.check_body(&body) {
            Ok(()) => answer(pool.clone(), signer, route, body).await,
            Err(refusal) => unauthorized(&refusal),
        },
        Err(Failure::Http(e)) => e.into_reply(),
        Err(Failure::Service(e)) => service_error(&e),
    };
    sign(&pool, &context, reply).await
}

/// Checks the request's signature (over the declared body hash), its timestamp and nonce;
/// the registered, active signer it comes from.
fn authenticate(
    pool: &CoordinatorPool,
    auth: &RequestAuth,
    method: &str,
    path_and_query: &str,
) -> Result<SignerRecord, Failure> {
    pool.with(|coord| -> Result<Result<SignerRecord, AuthRefusal>, Failure> {
        let now = clock::now().secs();
        let signer = match coord.active_signer(&auth.signer) {
            Ok(signer) => signer,
            Err(ServiceError::Unauthenticated) => return Ok(Err(AuthRefusal::UnknownSigner(auth.signer))),
            Err(e) => return Err(e.into()),
        };
        let secp = sluice_shared::secp::verification();
        if let Err(refusal) = auth.verify(secp, &signer.identity_key, method, path_and_query, now) {
            return Ok(Err(refusal));
        }
        if !pool.nonces().first_use(auth.nonce, now) {
            return Ok(Err(AuthRefusal::ReplayedNonce));
        }
        // For the dashboard; failing to note it must not stop the signer's request.
        if let Err(e) = coord.note_signer_contact(&signer.id, clock::now()) {
            tracing::warn!("recording signer {}'s contact failed: {e}", signer.name);
        }
        Ok(Ok(signer))
    })?
    .map_err(|refusal| {
        tracing::warn!("signer request refused: {refusal}");
        Failure::Http(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "signer_unauthenticated",
            refusal.to_string(),
        ))
    })
}

/// The authenticated request's answer.
async fn answer(pool: Arc<CoordinatorPool>, signer: SignerRecord, route: SignerRoute, body: Bytes) -> Reply {
    let outcome = tokio::task::spawn_blocking(move || -> Result<Reply, Failure> {
        match route {
            SignerRoute::Sessions => {
                let offers = pool.with(|coord| coord.sessions_for_signer(&signer))?;
                let sessions = offers
                    .into_iter()
                    .map(|offer| SessionOffer {
                        id: offer.id,
                        wallet: offer.wallet,
                        psbt: offer.psbt.to_string(),
                    })
                    .collect();
                Ok(json(StatusCode::OK, &SessionList { sessions }))
            }
            SignerRoute::Signatures(id) => {
                let SignedSession { psbt } = parse_json(&body, None)?;
                let psbt = Psbt::from_str(psbt.trim()).map_err(|e| {
                    Failure::Http(HttpError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_psbt",
                        format!("the PSBT does not parse: {e}"),
                    ))
                })?;
                let name = signer.name.clone();
                // Recorded by the signatures writer together with whatever other posts
                // arrived meanwhile, in one commit (`group_commit`).
                let receipt = pool.signatures().submit(OnlineSignatures {
                    session: id,
                    psbt,
                    signer,
                    now: clock::now(),
                })?;
                tracing::info!(
                    session = id,
                    signer = %name,
                    stored = receipt.stored,
                    signed = receipt.session_signed,
                    "signatures accepted"
                );
                Ok(json(StatusCode::OK, &receipt))
            }
            SignerRoute::Refusals(id) => {
                let report: RefusalReport = parse_json(&body, None)?;
                pool.with(|coord| coord.record_signer_refusal(id, &signer, &report, clock::now()))?;
                Ok(json(StatusCode::OK, &RefusalReceipt { recorded: true }))
            }
        }
    })
    .await;
    match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(Failure::Http(refusal))) => refusal.into_reply(),
        Ok(Err(Failure::Service(e))) => {
            if let ServiceError::Signatures(refusal) = &e {
                tracing::warn!("signatures refused: {refusal}");
            }
            service_error(&e)
        }
        Err(join) => internal(&join),
    }
}

fn internal(join: &tokio::task::JoinError) -> Reply {
    tracing::error!("signer request task failed: {join}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; retry later",
    )
}

/// Adds the coordinator's signature over `reply`, bound to the request it answers.
async fn sign(pool: &CoordinatorPool, request: &ReplyContext<'_>, reply: Reply) -> Reply {
    let (mut parts, body) = reply.into_parts();
    // A `Full` body is already in memory: collecting it cannot fail or wait.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let signature = pool.identity().sign_reply(request, parts.status.as_u16(), &body);
    match HeaderValue::from_str(&signature) {
        Ok(value) => {
            parts.headers.insert(COORDINATOR_SIGNATURE_HEADER, value);
        }
        Err(e) => tracing::error!("the reply signature is not a header value: {e}"),
    }
    Reply::from_parts(parts, Full::new(body))
}
