//! A blocking client of the staff API (`/v1/...`) for the command line: JSON over HTTP
//! with the staff member's bearer token. The CLI acts through it, so staff commands get
//! exactly the API's authentication, authorization and rules, and never open the
//! database.
//!
//! A `503 busy` (the coordinator's database was held by another writer beyond its busy
//! timeout; the request changed nothing) is sent again after the reply's `Retry-After`,
//! at most [`BUSY_RETRIES`] times. Nothing else is retried: a request whose fate is
//! unknown (the connection broke after it was sent) is reported, never repeated, so a
//! command acts at most once. Every POST carries an `Idempotency-Key` (the withdrawal's
//! own key for `withdraw`, else a fresh random one) so that the server can recognise a
//! repeat.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sluice_shared::api::IDEMPOTENCY_KEY_HEADER;
use zeroize::Zeroizing;

use crate::service::ApiToken;

/// How many times one request is sent again after `503 busy`.
pub const BUSY_RETRIES: u32 = 10;
/// The longest wait for one reply (the API's own limits are far below).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured, so a command never hangs for long.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(10);

/// Why a staff API call failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffApiError {
    /// Nothing answered at the URL (refused, unresolvable, or no reply in time).
    #[error("cannot reach the coordinator API at {url}: {reason}; start `sluice-coordinator run api` or set --api/SLUICE_API")]
    Unreachable { url: String, reason: String },
    /// The API answered with an error: its stable code and message.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// `503 busy` through every retry.
    #[error("{method} {path}: the coordinator stayed busy through {BUSY_RETRIES} retries; try again later")]
    Busy { method: Method, path: String },
    /// The reply was not what the API sends (not JSON, or cut off).
    #[error("{method} {path}: unreadable reply from the coordinator API: {reason}")]
    BadReply {
        method: Method,
        path: String,
        reason: String,
    },
    /// `--api` is not an http:// URL.
    #[error("--api {url:?} is not an http://HOST:PORT URL ({reason})")]
    BadUrl { url: String, reason: String },
}

impl StaffApiError {
    /// The stable error code, as the API gives it (`busy` and `unreachable` for the
    /// client's own verdicts).
    pub fn code(&self) -> &str {
        match self {
            StaffApiError::Refused { code, .. } => code,
            StaffApiError::Unreachable { .. } => "unreachable",
            StaffApiError::Busy { .. } => "busy",
            StaffApiError::BadReply { .. } => "bad_reply",
            StaffApiError::BadUrl { .. } => "command_failed",
        }
    }
}

/// A staff member's connection to the API.
pub struct StaffApi {
    base: String,
    token: Option<Zeroizing<String>>,
    runtime: tokio::runtime::Runtime,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for StaffApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffApi")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// One request's outcome: a reply, or busy (send again after this long).
enum Sent {
    Reply(StatusCode, Value),
    Busy(Duration),
}

impl StaffApi {
    /// `base` is `http://HOST:PORT`; `token` is the bearer credential (None only for
    /// enrollment, where the secret in the body is the credential).
    pub fn new(base: &str, token: Option<&ApiToken>) -> Result<StaffApi, StaffApiError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: hyper::Uri =
            base.parse()
                .map_err(|e: hyper::http::uri::InvalidUri| StaffApiError::BadUrl {
                    url: base.clone(),
                    reason: e.to_string(),
                })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(StaffApiError::BadUrl {
                url: base,
                reason: "give scheme http and a host".into(),
            });
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(StaffApiError::BadUrl {
                url: base,
                reason: "no path: the API's routes start at /v1".into(),
            });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StaffApiError::Unreachable {
                url: base.clone(),
                reason: format!("could not start the client runtime: {e}"),
            })?;
        Ok(StaffApi {
            base,
            token: token.map(ApiToken::reveal),
            runtime,
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, StaffApiError> {
        Ok(self.send(Method::GET, path, None, None)?.1)
    }

    /// A POST with a fresh idempotency key.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, StaffApiError> {
        let key = hex::encode(rand::random::<[u8; 16]>());
        Ok(self.send(Method::POST, path, Some(body), Some(&key))?.1)
    }

    /// A POST with the caller's idempotency key (e.g. the withdrawal's), with the reply's
    /// status (`201 Created`, or `200 OK` for a repeat the server recognised).
    pub fn post_with_key(
        &self,
        path: &str,
        body: &Value,
        key: &str,
    ) -> Result<(StatusCode, Value), StaffApiError> {
        self.send(Method::POST, path, Some(body), Some(key))
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, Value), StaffApiError> {
        let mut retries = 0;
        loop {
            match self
                .runtime
                .block_on(self.send_once(method.clone(), path, body, idempotency_key))?
            {
                Sent::Reply(status, value) => return Ok((status, value)),
                Sent::Busy(wait) if retries < BUSY_RETRIES => {
                    retries += 1;
                    std::thread::sleep(wait);
                }
                Sent::Busy(_) => {
                    return Err(StaffApiError::Busy {
                        method,
                        path: path.to_owned(),
                    })
                }
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Sent, StaffApiError> {
        let url = format!("{}{path}", self.base);
        let bad_reply = |reason: String| StaffApiError::BadReply {
            method: method.clone(),
            path: path.to_owned(),
            reason,
        };
        let mut request = Request::builder().method(method.clone()).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {}", token.as_str()));
        }
        if let Some(key) = idempotency_key {
            request = request.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        let body = match body {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(value).map_err(|e| bad_reply(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(body)).map_err(|e| StaffApiError::BadUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let unreachable = |reason: String| StaffApiError::Unreachable {
            url: self.base.clone(),
            reason,
        };
        let response = tokio::time::timeout(REPLY_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| unreachable(format!("no reply within {} s", REPLY_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let bytes = tokio::time::timeout(REPLY_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| bad_reply("the reply was not finished in time".into()))?
            .map_err(|e| bad_reply(e.to_string()))?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| bad_reply(format!("not JSON ({status}): {e}")))?
        };
        if status.is_success() {
            return Ok(Sent::Reply(status, value));
        }
        let code = value["error"]["code"].as_str().unwrap_or("").to_owned();
        if status == StatusCode::SERVICE_UNAVAILABLE && code == "busy" {
            let wait =
                Duration::from_secs(retry_after.unwrap_or(1)).clamp(Duration::from_secs(1), MAX_BUSY_WAIT);
            return Ok(Sent::Busy(wait));
        }
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{status}"));
        Err(StaffApiError::Refused {
            status,
            code: if code.is_empty() {
                "internal".to_owned()
            } else {
                code
            },
            message,
        })
    }
}

/// An error and its causes on one line (hyper's own message is only "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// `value` as a path segment or query value: everything but unreserved characters
/// percent-encoded.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(StaffApi::new("http://127.0.0.1:8080", None).is_ok());
        assert!(StaffApi::new("http://127.0.0.1:8080/", None).is_ok());
        assert!(StaffApi::new("https://127.0.0.1:8080", None).is_err());
        assert!(StaffApi::new("127.0.0.1:8080", None).is_err());
        assert!(StaffApi::new("http://127.0.0.1:8080/v1", None).is_err());
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(encode_component("c1"), "c1");
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = StaffApi::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let err = api.get("/v1/withdrawals").unwrap_err();
        assert_eq!(err.code(), "unreachable");
        assert!(err
            .to_string()
            .contains("cannot reach the coordinator API at http://127.0.0.1:"));
    }
}
