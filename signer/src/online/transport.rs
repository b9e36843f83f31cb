//! How the online signer reaches the coordinator. Signing code sees only [`Transport`]:
//! one request, one reply. [`HttpTransport`] speaks HTTP/1.1 directly (loopback, a LAN);
//! a Tor transport (an onion service with client authorization) plugs in here without
//! touching anything else.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The largest reply read (a page of sessions with full PSBTs).
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// A request to the coordinator: method, path (with query), headers, body.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The coordinator's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("coordinator URL {0:?} is not usable: give http://HOST:PORT")]
    BadUrl(String),
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the coordinator at {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
}

/// One request, one reply.
pub trait Transport {
    fn send(&self, request: OutgoingRequest) -> Result<Reply, TransportError>;
    /// Where requests go, for messages.
    fn describe(&self) -> String;
}

/// Plain HTTP/1.1 with hyper.
#[derive(Debug)]
pub struct HttpTransport {
    base: String,
    runtime: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpTransport {
    /// `base` is `http://HOST:PORT` (no path).
    pub fn new(base: &str) -> Result<HttpTransport, TransportError> {
        let base = base.trim().trim_end_matches('/').to_owned();
        let uri: hyper::Uri = base.parse().map_err(|_| TransportError::BadUrl(base.clone()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() || uri.path() != "/" {
            return Err(TransportError::BadUrl(base));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TransportError::Unreachable {
                url: base.clone(),
                reason: format!("cannot start the I/O runtime: {e}"),
            })?;
        let client = {
            let _guard = runtime.enter();
            Client::builder(TokioExecutor::new()).build_http()
        };
        Ok(HttpTransport {
            base,
            runtime,
            client,
            timeout: Duration::from_secs(30),
        })
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: OutgoingRequest) -> Result<Reply, TransportError> {
        let url = format!("{}{}", self.base, request.path);
        let unreachable = |reason: String| TransportError::Unreachable {
            url: self.base.clone(),
            reason,
        };
        let mut builder = Request::builder().method(request.method).uri(&url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if !request.body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| unreachable(e.to_string()))?;
        self.runtime.block_on(async {
            let exchange = async {
                let response = self
                    .client
                    .request(http_request)
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                let status = response.status().as_u16();
                let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
                    .collect()
                    .await
                    .map_err(|e| unreachable(format!("reading the reply: {e}")))?
                    .to_bytes()
                    .to_vec();
                Ok(Reply { status, body })
            };
            tokio::time::timeout(self.timeout, exchange)
                .await
                .map_err(|_| TransportError::Timeout {
                    url: self.base.clone(),
                    seconds: self.timeout.as_secs(),
                })?
        })
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}
