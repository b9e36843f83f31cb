//! The `/v1/signer/...` routes, for online signers. Each request is authenticated by the
//! signer's identity key (`sluice_shared::signer_api`), not by a staff token:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | /v1/signer/sessions | open sessions that need this signer's signature |
//! | POST | /v1/signer/sessions/{id}/signatures | the signer's signed PSBT (`{"psbt": base64}`) |
//!
//! The signature check runs before anything else, so an unauthenticated caller learns
//! nothing. Every partial signature is verified against the session's own transaction
//! before it is stored (`rules::signatures`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use sluice_shared::signer_api::{
    AuthRefusal, RequestAuth, RequestParts, SessionList, SessionOffer, SignedSession, MAX_CLOCK_SKEW_SECS,
    MAX_SIGNER_BODY_BYTES,
};

use super::pool::CoordinatorPool;
use super::reply::{error, json, service_error, Reply};
use super::routes::{parse_json, read_body, Failure, HttpError};
use crate::clock;
use crate::service::{ServiceError, Submitter};

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
        ["v1", "signer", "sessions", id, "signatures"] => {
            let id = id.parse().map_err(|_| {
                HttpError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("{id:?} is not a session id"),
                )
            })?;
            if *method == Method::POST {
                Ok(SignerRoute::Signatures(id))
            } else {
                Err(wrong_method("POST"))
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
    let body = match read_body(request, MAX_SIGNER_BODY_BYTES).await {
        Ok(body) => body,
        Err(Failure::Http(e)) => return e.into_reply(),
        Err(Failure::Service(e)) => return service_error(&e),
    };
    let outcome = tokio::task::spawn_blocking(move || {
        pool.with(|coord| -> Result<Reply, Failure> {
            let now = clock::now().secs();
            let signer = match coord.active_signer(&auth.signer) {
                Ok(signer) => signer,
                Err(ServiceError::Unauthenticated) => {
                    return Ok(unauthorized(&AuthRefusal::UnknownSigner(auth.signer)))
                }
                Err(e) => return Err(e.into()),
            };
            let parts = RequestParts {
                method: method.as_str(),
                path_and_query: &path_and_query,
                body: &body,
            };
            let secp = Secp256k1::verification_only();
            if let Err(refusal) = auth.verify(&secp, &signer.identity_key, &parts, now) {
                return Ok(unauthorized(&refusal));
            }
            if !pool.nonces().first_use(auth.nonce, now) {
                return Ok(unauthorized(&AuthRefusal::ReplayedNonce));
            }
            match route {
                SignerRoute::Sessions => {
                    let sessions = coord
                        .sessions_for_signer(&signer)?
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
                    let receipt =
                        coord.submit_signatures(id, &psbt, Submitter::Online(&signer), clock::now())?;
                    tracing::info!(
                        session = id,
                        signer = %signer.name,
                        stored = receipt.stored,
                        signed = receipt.session_signed,
                        "signatures accepted"
                    );
                    Ok(json(StatusCode::OK, &receipt))
                }
            }
        })
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
        Err(join) => {
            tracing::error!("signer request task failed: {join}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; retry later",
            )
        }
    }
}
