//! The coordinator's staff API as the exchange backend and approvers use it: JSON over
//! HTTP with a bearer token. A `503 busy` (the coordinator's database was held by another
//! writer beyond its busy timeout; nothing was changed) is retried after the reply's
//! `Retry-After`, as a backend should, up to [`BUSY_RETRIES`] times; the retries are
//! counted ([`StaffClient::busy_retries`]) so a benchmark reports them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sluice_shared::api::IDEMPOTENCY_KEY_HEADER;

/// How many times one request is sent again after `503 busy`.
pub const BUSY_RETRIES: u32 = 30;

/// A staff member's client.
#[derive(Debug, Clone)]
pub struct StaffClient {
    base: String,
    token: String,
    http: Client<HttpConnector, Full<Bytes>>,
    busy_retries: Arc<AtomicU64>,
}

impl StaffClient {
    /// `base` is `http://127.0.0.1:PORT`.
    pub fn new(base: &str, token: &str) -> StaffClient {
        StaffClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            http: Client::builder(TokioExecutor::new()).build_http(),
            busy_retries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Requests sent again after `503 busy`, over this client and its clones.
    pub fn busy_retries(&self) -> u64 {
        self.busy_retries.load(Ordering::Relaxed)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value, idempotency_key: Option<&str>) -> Result<Value> {
        self.send(Method::POST, path, Some(body), idempotency_key).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value> {
        let mut retries = 0;
        loop {
            match self
                .send_once(method.clone(), path, body, idempotency_key)
                .await?
            {
                Sent::Busy(wait) if retries < BUSY_RETRIES => {
                    retries += 1;
                    self.busy_retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
                Sent::Busy(_) => {
                    bail!("{method} {path}: the coordinator stayed busy through {BUSY_RETRIES} retries")
                }
                Sent::Reply(value) => return Ok(value),
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Sent> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json");
        if let Some(key) = idempotency_key {
            request = request.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        let body = match body {
            Some(value) => Bytes::from(serde_json::to_vec(value)?),
            None => Bytes::new(),
        };
        let request = request.body(Full::new(body)).context("building the request")?;
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .with_context(|| format!("{method} {url}: no answer within 30 s"))?
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        if status == hyper::StatusCode::SERVICE_UNAVAILABLE {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            return Ok(Sent::Busy(Duration::from_secs(wait.clamp(1, 10))));
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{method} {url}: reading the reply"))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            bail!("{method} {path}: {status}: {message}");
        }
        Ok(Sent::Reply(value))
    }
}

/// One request's outcome: a reply, or busy (retry after this long).
enum Sent {
    Reply(Value),
    Busy(Duration),
}
