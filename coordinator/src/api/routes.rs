//! The `/v1` routes: parse the request at the edge, then authenticate and run the service
//! operation on the blocking pool. Authentication comes before any other verdict, so an
//! unauthenticated caller learns nothing about what the request would have done.
//! Admin changes are proposals a second admin approves (`proposals`).

mod admin;
mod coins;
mod deposits;
mod proposals;
mod sessions;
mod wallets;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use sluice_shared::api::{
    ApproveWithdrawal, NewWithdrawal, RejectWithdrawal, IDEMPOTENCY_KEY_HEADER, MAX_BODY_BYTES,
};
use sluice_shared::signer_api::MAX_SIGNER_BODY_BYTES;

/// The largest blocklist import (`POST /v1/blocklist`): a published list of illicit
/// addresses and outpoints runs to tens of thousands of lines, far beyond
/// `MAX_BODY_BYTES`; the service parses it line by line and refuses it whole on any bad
/// line.
const MAX_BLOCKLIST_BODY_BYTES: usize = 4 * 1024 * 1024;

use self::admin::AdminRoute;
use self::deposits::DepositRoute;
use self::sessions::SessionRoute;
use self::wallets::WalletRoute;
use super::pool::CoordinatorPool;
use super::reply::{error, json, service_error, Reply};
use crate::clock;
use crate::rules::intake::CustomerStatus;
use crate::service::{Actor, ApiToken, Coordinator, Intake, IntakeRequest, ServiceError, WithdrawalQuery};
use crate::time::UnixTime;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    CreateWithdrawal,
    ListWithdrawals,
    GetWithdrawal(u64),
    Approve(u64),
    Reject(u64),
    Cancel(u64),
    ListProposals,
    CreateProposal,
    GetProposal(u64),
    ApproveProposal(u64),
    RejectProposal(u64),
    /// Signing sessions: list, show, export and import for offline signers, bump,
    /// abandon, history (`sessions`).
    Sessions(sessions::SessionRoute),
    /// Wallets, receive addresses, signers (`wallets`).
    Wallets(wallets::WalletRoute),
    /// Staff, customers, beneficiaries, fees, risk, the admin and webhook logs, the
    /// restore hold (`admin`).
    Admin(admin::AdminRoute),
    /// Deposit addresses, the deposit ledger, KYC, the blocklist (`deposits`).
    Deposits(deposits::DepositRoute),
    /// `GET /v1/audit/head`: the verified audit chain's head (any staff, shadow too).
    AuditHead,
    /// `GET /v1/audit/entries/{seq}`: one entry's head (any staff who may read the head).
    AuditEntry(u64),
    /// Balances and coins (`coins`).
    Coins(coins::CoinRoute),
    /// The one route without a bearer token: the enrollment secret is the credential.
    Enroll,
}

/// A refusal decided at the HTTP layer, turned into a reply at the end.
#[derive(Debug)]
pub(super) struct HttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
    pub(super) allow: Option<&'static str>,
}

impl HttpError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        HttpError {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub(super) fn into_reply(self) -> Reply {
        let mut reply = error(self.status, self.code, &self.message);
        if let Some(allow) = self.allow {
            reply.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
        }
        reply
    }
}

/// Why a request failed before or during the service call.
pub(super) enum Failure {
    Service(ServiceError),
    Http(HttpError),
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        Failure::Service(e)
    }
}

pub(super) fn bad_request(code: &'static str, message: &str) -> Failure {
    Failure::Http(HttpError::new(StatusCode::BAD_REQUEST, code, message))
}

/// Refuses any query parameter on `path`, which takes none.
pub(super) fn no_query(query: Option<&str>, path: &str) -> Result<(), Failure> {
    if query.is_some_and(|q| !q.is_empty()) {
        return Err(bad_request(
            "invalid_query",
            &format!("{path} takes no query parameters"),
        ));
    }
    Ok(())
}

fn route(method: &Method, path: &str) -> Result<Route, HttpError> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let not_found = || {
        HttpError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such endpoint: {path}"),
        )
    };
    let wrong_method = |allowed: &'static str| HttpError {
        allow: Some(allowed),
        ..HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}; use {allowed}"),
        )
    };
    let id = |text: &str| {
        text.parse::<u64>().map_err(|_| {
            HttpError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{text:?} is not an id (ids are numbers)"),
            )
        })
    };
    match segments.as_slice() {
        ["v1", "withdrawals"] => match *method {
            Method::POST => Ok(Route::CreateWithdrawal),
            Method::GET => Ok(Route::ListWithdrawals),
            _ => Err(wrong_method("GET, POST")),
        },
        ["v1", "withdrawals", w] => match *method {
            Method::GET => Ok(Route::GetWithdrawal(id(w)?)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "withdrawals", w, action @ ("approve" | "reject" | "cancel")] => match *method {
            Method::POST if *action == "approve" => Ok(Route::Approve(id(w)?)),
            Method::POST if *action == "reject" => Ok(Route::Reject(id(w)?)),
            Method::POST => Ok(Route::Cancel(id(w)?)),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "sessions"] => match *method {
            Method::GET => Ok(Route::Sessions(SessionRoute::List)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "sessions", s] => match *method {
            Method::GET => Ok(Route::Sessions(SessionRoute::Get(id(s)?))),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "sessions", s, action @ ("bump" | "abandon" | "signatures")] => match *method {
            Method::POST if *action == "bump" => Ok(Route::Sessions(SessionRoute::Bump(id(s)?))),
            Method::POST if *action == "abandon" => Ok(Route::Sessions(SessionRoute::Abandon(id(s)?))),
            Method::POST => Ok(Route::Sessions(SessionRoute::Signatures(id(s)?))),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "sessions", s, action @ ("history" | "psbt")] => match *method {
            Method::GET if *action == "history" => Ok(Route::Sessions(SessionRoute::History(id(s)?))),
            Method::GET => Ok(Route::Sessions(SessionRoute::Psbt(id(s)?))),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "wallets"] => match *method {
            Method::GET => Ok(Route::Wallets(WalletRoute::List)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "receive-addresses"] => match *method {
            Method::POST => Ok(Route::Wallets(WalletRoute::ReceiveAddress)),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "signers"] => match *method {
            Method::GET => Ok(Route::Wallets(WalletRoute::Signers)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "staff"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::Staff)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "customers"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::Customers)),
            Method::POST => Ok(Route::Admin(AdminRoute::AddCustomer)),
            _ => Err(wrong_method("GET, POST")),
        },
        ["v1", "customers", action @ ("suspend" | "activate")] => match *method {
            Method::POST => Ok(Route::Admin(AdminRoute::SetCustomerStatus(
                if *action == "suspend" {
                    CustomerStatus::Suspended
                } else {
                    CustomerStatus::Active
                },
            ))),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "beneficiaries"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::Beneficiaries)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "fees"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::Fees)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "risk"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::Risk)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "admin-log"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::AdminLog)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "webhook-deliveries"] => match *method {
            Method::GET => Ok(Route::Admin(AdminRoute::WebhookDeliveries)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "restore-release"] => match *method {
            Method::POST => Ok(Route::Admin(AdminRoute::RestoreRelease)),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "proposals"] => match *method {
            Method::POST => Ok(Route::CreateProposal),
            Method::GET => Ok(Route::ListProposals),
            _ => Err(wrong_method("GET, POST")),
        },
        ["v1", "proposals", p] => match *method {
            Method::GET => Ok(Route::GetProposal(id(p)?)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "proposals", p, action @ ("approve" | "reject")] => match *method {
            Method::POST if *action == "approve" => Ok(Route::ApproveProposal(id(p)?)),
            Method::POST => Ok(Route::RejectProposal(id(p)?)),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "deposit-addresses"] => match *method {
            Method::POST => Ok(Route::Deposits(deposits::DepositRoute::IssueAddress)),
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::ListAddresses)),
            _ => Err(wrong_method("GET, POST")),
        },
        ["v1", "deposit-wallets"] => match *method {
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::ListWallets)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "deposits"] => match *method {
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::List)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "unconfirmed-deposits"] => match *method {
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::ListUnconfirmed)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "deposits", d] => match *method {
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::Get(id(d)?))),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "deposits", d, "tag"] => match *method {
            Method::POST => Ok(Route::Deposits(deposits::DepositRoute::Tag(id(d)?))),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "deposits", d, "resolutions"] => match *method {
            Method::POST => Ok(Route::Deposits(deposits::DepositRoute::ProposeResolution(id(d)?))),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "resolutions"] => match *method {
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::ListResolutions)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "resolutions", r, action @ ("approve" | "reject")] => match *method {
            Method::POST => Ok(Route::Deposits(deposits::DepositRoute::DecideResolution {
                id: id(r)?,
                approve: *action == "approve",
            })),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "kyc"] => match *method {
            Method::POST => Ok(Route::Deposits(deposits::DepositRoute::SetKyc)),
            Method::GET => Ok(Route::Deposits(deposits::DepositRoute::GetKyc)),
            _ => Err(wrong_method("GET, POST")),
        },
        ["v1", "blocklist"] => match *method {
            Method::POST => Ok(Route::Deposits(deposits::DepositRoute::ImportBlocklist)),
            _ => Err(wrong_method("POST")),
        },
        ["v1", "audit", "head"] => match *method {
            Method::GET => Ok(Route::AuditHead),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "audit", "entries", seq] => match *method {
            Method::GET => Ok(Route::AuditEntry(id(seq)?)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "balances"] => match *method {
            Method::GET => Ok(Route::Coins(coins::CoinRoute::Balances)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "coins"] => match *method {
            Method::GET => Ok(Route::Coins(coins::CoinRoute::Coins)),
            _ => Err(wrong_method("GET")),
        },
        ["v1", "staff", "enroll"] => match *method {
            Method::POST => Ok(Route::Enroll),
            _ => Err(wrong_method("POST")),
        },
        _ => Err(not_found()),
    }
}

/// `key=value&...` with only the keys in `allowed`, each value percent-decoded (names of
/// wallets and customers may hold any printable character; the CLI encodes them).
pub(super) fn query_pairs<'a>(
    query: Option<&str>,
    allowed: &[&'a str],
) -> Result<Vec<(&'a str, String)>, Failure> {
    let mut pairs = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let Some(known) = allowed.iter().find(|a| **a == key) else {
            return Err(bad_request(
                "invalid_query",
                &if allowed.is_empty() {
                    "this endpoint takes no query parameters".to_owned()
                } else {
                    format!("unknown query parameter {key:?}: use {}", allowed.join(", "))
                },
            ));
        };
        pairs.push((*known, value.into_owned()));
    }
    Ok(pairs)
}

/// `?limit=N` (the only parameter of `GET /v1/proposals`).
fn parse_limit(query: Option<&str>) -> Result<u32, Failure> {
    let mut limit = 50;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("limit", value)) => {
                limit = value.parse::<u32>().map_err(|_| {
                    bad_request(
                        "invalid_query",
                        &format!("limit must be a whole number, not {value:?}"),
                    )
                })?;
            }
            _ => {
                return Err(bad_request(
                    "invalid_query",
                    &format!("unknown query parameter {pair:?}: use limit"),
                ))
            }
        }
    }
    Ok(limit)
}

/// The bearer token, if the header holds one in the right form.
fn bearer_token(request: &Request<Incoming>) -> Option<ApiToken> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    ApiToken::parse(token).ok()
}

/// Reads at most `limit` bytes; insists on JSON when there is a body.
pub(super) async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Failure> {
    let too_large = || {
        Failure::Http(HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {limit} bytes"),
        ))
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    let collect = Limited::new(request.into_body(), limit).collect();
    // A client that dribbles its body is cut off like one that dribbles its headers.
    let Ok(collected) = tokio::time::timeout(super::BODY_READ_TIMEOUT, collect).await else {
        return Err(Failure::Http(HttpError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within {} s",
                super::BODY_READ_TIMEOUT.as_secs()
            ),
        )));
    };
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(bad_request(
                "unreadable_body",
                &format!("could not read the body: {e}"),
            ))
        }
    };
    if !body.is_empty() && is_json != Some(true) {
        return Err(Failure::Http(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        )));
    }
    Ok(body)
}

pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8], empty_ok: Option<T>) -> Result<T, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if let Some(default) = empty_ok {
            return Ok(default);
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| bad_request("invalid_json", &format!("invalid request body: {e}")))
}

fn parse_query(query: Option<&str>) -> Result<WithdrawalQuery, Failure> {
    let mut parsed = WithdrawalQuery::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |v: &str| {
            v.parse::<u64>().map_err(|_| {
                bad_request(
                    "invalid_query",
                    &format!("{key} must be a whole number, not {v:?}"),
                )
            })
        };
        match key {
            "status" => {
                parsed.status = Some(
                    value
                        .parse()
                        .map_err(|e| bad_request("invalid_query", &format!("{e}")))?,
                )
            }
            "limit" => parsed.limit = Some(u32::try_from(number(value)?).unwrap_or(u32::MAX)),
            "before" => parsed.before_id = Some(number(value)?),
            other => {
                return Err(bad_request(
                    "invalid_query",
                    &format!("unknown query parameter {other:?}: use status, limit, before"),
                ))
            }
        }
    }
    Ok(parsed)
}

/// Everything the blocking part needs, parsed from the request (parse failures are held
/// until after authentication).
struct Parsed {
    route: Route,
    body: Result<Bytes, Failure>,
    idempotency_key: Option<String>,
    query: Option<String>,
}

/// `POST /v1/withdrawals`: group commit with the other requests arriving now (answered once
/// durable). Needs no connection of its own: the intake writer has one, and holding a pooled
/// connection while the group commits would leave none for the other requests (each would
/// open, and check, a new one).
fn create_withdrawal(
    pool: &CoordinatorPool,
    actor: &Actor,
    parsed: Parsed,
    now: UnixTime,
) -> Result<Reply, Failure> {
    let body = parsed.body?;
    let key = parsed.idempotency_key.ok_or_else(|| {
        bad_request(
            "missing_idempotency_key",
            "POST /v1/withdrawals needs an Idempotency-Key header, unique per withdrawal",
        )
    })?;
    let request: NewWithdrawal = parse_json(&body, None)?;
    // Group commit with the other requests arriving now; answered once durable.
    let outcome = pool.intake().submit(IntakeRequest {
        actor: actor.clone(),
        idempotency_key: key,
        request,
        now,
    })?;
    let (status, replayed) = match &outcome {
        Intake::Created(_) => (StatusCode::CREATED, "false"),
        Intake::Existing(_) => (StatusCode::OK, "true"),
    };
    let detail = outcome.into_detail();
    let mut reply = json(status, &detail);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/withdrawals/{}", detail.withdrawal.id)) {
        reply.headers_mut().insert(LOCATION, location);
    }
    reply
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static(replayed));
    Ok(reply)
}

fn execute(
    pool: &CoordinatorPool,
    coord: &mut Coordinator,
    actor: &Actor,
    parsed: Parsed,
) -> Result<Reply, Failure> {
    let now = clock::now();
    match parsed.route {
        // The handler calls `create_withdrawal` without a connection (see `staff`); kept
        // here so the match names every route.
        Route::CreateWithdrawal => create_withdrawal(pool, actor, parsed, now),
        Route::ListWithdrawals => {
            let query = parse_query(parsed.query.as_deref())?;
            Ok(json(StatusCode::OK, &coord.list_withdrawals(actor, &query)?))
        }
        Route::GetWithdrawal(id) => Ok(json(StatusCode::OK, &coord.withdrawal(actor, id)?)),
        Route::Approve(id) => {
            let body = parsed.body?;
            let ApproveWithdrawal {} = parse_json(&body, Some(ApproveWithdrawal {}))?;
            Ok(json(StatusCode::OK, &coord.approve(actor, id, now)?))
        }
        Route::Reject(id) => {
            let body = parsed.body?;
            let RejectWithdrawal { reason } = parse_json(&body, None)?;
            Ok(json(StatusCode::OK, &coord.reject(actor, id, &reason, now)?))
        }
        Route::Cancel(id) => {
            let body = parsed.body?;
            let RejectWithdrawal { reason } = parse_json(&body, None)?;
            Ok(json(StatusCode::OK, &coord.cancel(actor, id, &reason, now)?))
        }
        Route::ListProposals => proposals::list(coord, actor, parse_limit(parsed.query.as_deref())?, now),
        Route::CreateProposal => proposals::create(coord, actor, &parsed.body?, now),
        Route::GetProposal(id) => proposals::get(coord, actor, id, now),
        Route::ApproveProposal(id) => proposals::approve(coord, actor, id, &parsed.body?, now),
        Route::RejectProposal(id) => proposals::reject(coord, actor, id, &parsed.body?, now),
        Route::Sessions(route) => {
            sessions::execute(coord, actor, route, parsed.body, parsed.query.as_deref(), now)
        }
        Route::Wallets(route) => {
            wallets::execute(coord, actor, route, parsed.body, parsed.query.as_deref(), now)
        }
        Route::Admin(route) => admin::execute(coord, actor, route, parsed.body, parsed.query.as_deref(), now),
        Route::Deposits(route) => {
            deposits::execute(coord, actor, route, parsed.body, parsed.query.as_deref(), now)
        }
        Route::AuditHead => Ok(json(StatusCode::OK, &coord.audit_head(actor)?)),
        Route::AuditEntry(seq) => Ok(json(StatusCode::OK, &coord.audit_entry(actor, seq)?)),
        Route::Coins(route) => coins::execute(coord, actor, route, parsed.query.as_deref()),
        Route::Enroll => Err(bad_request("invalid_request", "enrollment takes no bearer token")),
    }
}

/// Answers one request. Never fails: every problem becomes a JSON error reply.
/// The onion service's surface: signer routes, and 404 for everything else.
pub async fn handle_signer_only(pool: Arc<CoordinatorPool>, request: Request<Incoming>) -> Reply {
    if request.uri().path().starts_with("/v1/signer/") {
        return super::signer_routes::handle(pool, request).await;
    }
    HttpError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "only the signer API (/v1/signer/...) is served over the onion service",
    )
    .into_reply()
}

pub async fn handle(pool: Arc<CoordinatorPool>, request: Request<Incoming>) -> Reply {
    if request.uri().path().starts_with("/v1/signer/") {
        return super::signer_routes::handle(pool, request).await;
    }
    if super::ops::is_ops_path(request.uri().path()) {
        return super::ops::handle(pool, request).await;
    }
    let route = match route(request.method(), request.uri().path()) {
        Ok(route) => route,
        Err(refusal) => return refusal.into_reply(),
    };
    if route == Route::Enroll {
        return enroll(pool, request).await;
    }
    let Some(token) = bearer_token(&request) else {
        return service_error(&ServiceError::Unauthenticated);
    };
    let idempotency_key = request
        .headers()
        .get(IDEMPOTENCY_KEY_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = request.uri().query().map(str::to_owned);
    let body = match route {
        Route::CreateWithdrawal
        | Route::Approve(_)
        | Route::Reject(_)
        | Route::Cancel(_)
        | Route::CreateProposal
        | Route::ApproveProposal(_)
        | Route::RejectProposal(_)
        | Route::Enroll => read_body(request, MAX_BODY_BYTES).await,
        // A blocklist file, which may list thousands of addresses.
        Route::Deposits(DepositRoute::ImportBlocklist) => read_body(request, MAX_BLOCKLIST_BODY_BYTES).await,
        Route::Deposits(route) if route.has_body() => read_body(request, MAX_BODY_BYTES).await,
        // An offline signer's signed PSBT: bounded as an online signer's submission of the
        // same PSBT is (a 1,000-input PSBT with every input's previous transaction runs
        // to megabytes, far beyond MAX_BODY_BYTES).
        Route::Sessions(SessionRoute::Signatures(_)) => read_body(request, MAX_SIGNER_BODY_BYTES).await,
        Route::Sessions(route) if route.has_body() => read_body(request, MAX_BODY_BYTES).await,
        Route::Wallets(route) if route.has_body() => read_body(request, MAX_BODY_BYTES).await,
        Route::Admin(route) if route.has_body() => read_body(request, MAX_BODY_BYTES).await,
        Route::Deposits(_)
        | Route::Sessions(_)
        | Route::Wallets(_)
        | Route::Admin(_)
        | Route::ListWithdrawals
        | Route::Coins(_)
        | Route::GetWithdrawal(_)
        | Route::ListProposals
        | Route::GetProposal(_)
        | Route::AuditHead
        | Route::AuditEntry(_) => Ok(Bytes::new()),
    };
    let parsed = Parsed {
        route,
        body,
        idempotency_key,
        query,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let actor = pool.with(|coord| coord.authenticate(&token).map_err(Failure::from))?;
        match parsed.route {
            Route::CreateWithdrawal => create_withdrawal(&pool, &actor, parsed, clock::now()),
            _ => pool.with(|coord| execute(&pool, coord, &actor, parsed)),
        }
    })
    .await;
    finish(outcome)
}

/// `POST /v1/staff/enroll`: the secret in the body is the credential.
async fn enroll(pool: Arc<CoordinatorPool>, request: Request<Incoming>) -> Reply {
    let body = match read_body(request, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(Failure::Http(refusal)) => return refusal.into_reply(),
        Err(Failure::Service(e)) => return service_error(&e),
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let request: proposals::EnrollRequest = parse_json(&body, None)?;
        pool.with(|coord| proposals::enroll(coord, &request, clock::now()))
    })
    .await;
    finish(outcome)
}

fn finish(outcome: Result<Result<Reply, Failure>, tokio::task::JoinError>) -> Reply {
    match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(Failure::Http(refusal))) => refusal.into_reply(),
        Ok(Err(Failure::Service(e))) => service_error(&e),
        Err(join) => {
            tracing::error!("request task failed: {join}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; retry later",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(&Method::POST, "/v1/withdrawals").unwrap(),
            Route::CreateWithdrawal
        );
        assert_eq!(
            route(&Method::GET, "/v1/withdrawals").unwrap(),
            Route::ListWithdrawals
        );
        assert_eq!(
            route(&Method::GET, "/v1/withdrawals/7").unwrap(),
            Route::GetWithdrawal(7)
        );
        assert_eq!(
            route(&Method::POST, "/v1/withdrawals/7/approve").unwrap(),
            Route::Approve(7)
        );
        assert_eq!(
            route(&Method::POST, "/v1/withdrawals/7/reject").unwrap(),
            Route::Reject(7)
        );
        assert_eq!(
            route(&Method::POST, "/v1/withdrawals/7/cancel").unwrap(),
            Route::Cancel(7)
        );
        assert_eq!(
            route(&Method::GET, "/v1/withdrawals/7/approve")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            route(&Method::DELETE, "/v1/withdrawals/7").unwrap_err().status,
            405
        );
        assert_eq!(route(&Method::GET, "/v1/withdrawals/x").unwrap_err().status, 404);
        assert_eq!(
            route(&Method::POST, "/v1/sessions/3/bump").unwrap(),
            Route::Sessions(SessionRoute::Bump(3))
        );
        assert_eq!(
            route(&Method::POST, "/v1/sessions/3/abandon").unwrap(),
            Route::Sessions(SessionRoute::Abandon(3))
        );
        assert_eq!(
            route(&Method::GET, "/v1/sessions/3/history").unwrap(),
            Route::Sessions(SessionRoute::History(3))
        );
        assert_eq!(
            route(&Method::GET, "/v1/sessions/3/bump").unwrap_err().status,
            405
        );
        assert_eq!(
            route(&Method::GET, "/v1/audit/entries/12").unwrap(),
            Route::AuditEntry(12)
        );
        assert_eq!(
            route(&Method::POST, "/v1/audit/entries/12").unwrap_err().status,
            405
        );
        assert_eq!(
            route(&Method::GET, "/v1/audit/entries/last").unwrap_err().status,
            404
        );
        assert_eq!(route(&Method::GET, "/v1/withdrawals/").unwrap_err().status, 404);
        assert_eq!(route(&Method::GET, "/v2/withdrawals").unwrap_err().status, 404);
        assert_eq!(route(&Method::GET, "/").unwrap_err().status, 404);
    }

    /// Every staff read and action the CLI makes has its route; wrong methods say which
    /// are allowed, and an id that is not a number is no such resource.
    #[test]
    fn staff_routes() {
        let ok = [
            (Method::GET, "/v1/sessions", Route::Sessions(SessionRoute::List)),
            (
                Method::GET,
                "/v1/sessions/4",
                Route::Sessions(SessionRoute::Get(4)),
            ),
            (
                Method::GET,
                "/v1/sessions/4/psbt",
                Route::Sessions(SessionRoute::Psbt(4)),
            ),
            (
                Method::POST,
                "/v1/sessions/4/signatures",
                Route::Sessions(SessionRoute::Signatures(4)),
            ),
            (Method::GET, "/v1/wallets", Route::Wallets(WalletRoute::List)),
            (
                Method::POST,
                "/v1/receive-addresses",
                Route::Wallets(WalletRoute::ReceiveAddress),
            ),
            (Method::GET, "/v1/signers", Route::Wallets(WalletRoute::Signers)),
            (
                Method::GET,
                "/v1/deposit-wallets",
                Route::Deposits(DepositRoute::ListWallets),
            ),
            (Method::GET, "/v1/staff", Route::Admin(AdminRoute::Staff)),
            (Method::GET, "/v1/customers", Route::Admin(AdminRoute::Customers)),
            (
                Method::POST,
                "/v1/customers",
                Route::Admin(AdminRoute::AddCustomer),
            ),
            (
                Method::POST,
                "/v1/customers/suspend",
                Route::Admin(AdminRoute::SetCustomerStatus(CustomerStatus::Suspended)),
            ),
            (
                Method::POST,
                "/v1/customers/activate",
                Route::Admin(AdminRoute::SetCustomerStatus(CustomerStatus::Active)),
            ),
            (
                Method::GET,
                "/v1/beneficiaries",
                Route::Admin(AdminRoute::Beneficiaries),
            ),
            (Method::GET, "/v1/fees", Route::Admin(AdminRoute::Fees)),
            (Method::GET, "/v1/risk", Route::Admin(AdminRoute::Risk)),
            (Method::GET, "/v1/admin-log", Route::Admin(AdminRoute::AdminLog)),
            (
                Method::GET,
                "/v1/webhook-deliveries",
                Route::Admin(AdminRoute::WebhookDeliveries),
            ),
            (
                Method::POST,
                "/v1/restore-release",
                Route::Admin(AdminRoute::RestoreRelease),
            ),
        ];
        for (method, path, expected) in ok {
            assert_eq!(route(&method, path).unwrap(), expected, "{method} {path}");
        }
        let wrong_method = [
            (Method::POST, "/v1/sessions", "GET"),
            (Method::DELETE, "/v1/sessions/4", "GET"),
            (Method::POST, "/v1/sessions/4/psbt", "GET"),
            (Method::GET, "/v1/sessions/4/signatures", "POST"),
            (Method::POST, "/v1/wallets", "GET"),
            (Method::GET, "/v1/receive-addresses", "POST"),
            (Method::POST, "/v1/signers", "GET"),
            (Method::POST, "/v1/deposit-wallets", "GET"),
            (Method::POST, "/v1/staff", "GET"),
            (Method::DELETE, "/v1/customers", "GET, POST"),
            (Method::GET, "/v1/customers/suspend", "POST"),
            (Method::POST, "/v1/beneficiaries", "GET"),
            (Method::PUT, "/v1/fees", "GET"),
            (Method::POST, "/v1/risk", "GET"),
            (Method::DELETE, "/v1/admin-log", "GET"),
            (Method::POST, "/v1/webhook-deliveries", "GET"),
            (Method::GET, "/v1/restore-release", "POST"),
        ];
        for (method, path, allow) in wrong_method {
            let refusal = route(&method, path).unwrap_err();
            assert_eq!(refusal.status, 405, "{method} {path}");
            assert_eq!(refusal.allow, Some(allow), "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/v1/sessions/x"),
            (Method::GET, "/v1/sessions/-1/psbt"),
            (Method::POST, "/v1/sessions/4x/signatures"),
            (Method::POST, "/v1/customers/delete"),
            (Method::GET, "/v1/wallets/hot"),
            (Method::GET, "/v1/sessions/4/export"),
        ] {
            assert_eq!(route(&method, path).unwrap_err().status, 404, "{method} {path}");
        }
    }

    #[test]
    fn query_parameters_are_decoded_and_unknown_ones_refused() {
        let pairs = query_pairs(Some("wallet=cold%20store%26co&spent=true"), &["wallet", "spent"])
            .ok()
            .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("wallet", "cold store&co".to_owned()),
                ("spent", "true".to_owned())
            ]
        );
        assert!(query_pairs(Some("sort=asc"), &["wallet"]).is_err());
        assert!(query_pairs(Some("x=1"), &[]).is_err());
        assert!(query_pairs(None, &[]).ok().unwrap().is_empty());
    }

    #[test]
    fn queries() {
        let q = parse_query(Some("status=approved&limit=5&before=9"))
            .ok()
            .unwrap();
        assert_eq!(q.status, Some(sluice_shared::api::WithdrawalStatus::Approved));
        assert_eq!((q.limit, q.before_id), (Some(5), Some(9)));
        assert!(parse_query(Some("sort=asc")).is_err());
        assert!(parse_query(Some("limit=ten")).is_err());
        assert!(parse_query(Some("status=paid")).is_err());
        assert!(parse_query(None).is_ok());
    }
}
