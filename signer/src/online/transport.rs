//! How the online signer reaches the coordinator. Signing code sees only [`Transport`]:
//! one request, one reply. [`HttpTransport`] speaks plain HTTP/1.1, to a loopback address
//! only (the coordinator on the same machine, or a tunnel whose local end is here: SSH, a
//! local Tor client); anything else would cross a network in clear text and is refused
//! before any connection. Stealth mode's transport (`onion_transport`: an onion service
//! with restricted discovery, through arti) plugs in here; TLS with a pinned key would too. Replies are
//! authenticated above this layer (`client`), whatever the transport.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sluice_shared::signer_api::COORDINATOR_SIGNATURE_HEADER;

/// The largest reply read (a page of sessions with full PSBTs).
pub(crate) const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

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
    /// The `sluice-coordinator-signature` header, if any.
    pub coordinator_signature: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    /// Status, signature header and body (at most `MAX_REPLY_BYTES`) of a coordinator's
    /// HTTP response, whichever transport carried it; the error says what failed.
    pub(crate) async fn read(response: hyper::Response<hyper::body::Incoming>) -> Result<Reply, String> {
        let status = response.status().as_u16();
        let coordinator_signature = response
            .headers()
            .get(COORDINATOR_SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the reply: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Reply {
            status,
            coordinator_signature,
            body,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("coordinator URL {0:?} is not usable: give http://HOST:PORT")]
    BadUrl(String),
    #[error("refusing plain http:// to {0:?}, which is not a loopback address: requests and replies would cross the network in clear text. Use stealth mode (--coordinator http://<onion address>.onion, the coordinator's onion service), or a tunnel whose local end is on this machine (e.g. `ssh -L 8080:127.0.0.1:8080 coordinator-host`, then --coordinator http://127.0.0.1:8080)")]
    PlainHttpToRemote(String),
    #[error("cannot reach the coordinator at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the coordinator at {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
}

/// One request, one reply. `Sync`, so that the online loop can post a poll's signatures
/// a few at a time (each request still one exchange of its own).
pub trait Transport: Send + Sync {
    fn send(&self, request: OutgoingRequest) -> Result<Reply, TransportError>;
    /// Where requests go, for messages.
    fn describe(&self) -> String;
}

impl Transport for Box<dyn Transport> {
    fn send(&self, request: OutgoingRequest) -> Result<Reply, TransportError> {
        (**self).send(request)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
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
        if uri.scheme_str() != Some("http") || uri.path() != "/" {
            return Err(TransportError::BadUrl(base));
        }
        match uri.host() {
            None => return Err(TransportError::BadUrl(base)),
            Some(host) if !is_loopback(host) => {
                return Err(TransportError::PlainHttpToRemote(host.to_owned()))
            }
            Some(_) => {}
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

/// `localhost`, 127.0.0.0/8 or ::1 (as a URL writes it, `[::1]`). Names other than
/// `localhost` are not resolved: DNS could point them anywhere.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
                Reply::read(response).await.map_err(unreachable)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_and_refused_before_dialing() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.5.6.7:1",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(HttpTransport::new(url).is_ok(), "{url}");
        }
        // `new` opens no connection: a refusal here is a refusal before dialing.
        for url in [
            "http://10.0.0.1:8080",
            "http://192.168.1.2",
            "http://coordinator.example:8080",
            "http://[2001:db8::1]:80",
            "http://127.0.0.1.nip.io:80",
        ] {
            assert!(
                matches!(HttpTransport::new(url), Err(TransportError::PlainHttpToRemote(_))),
                "{url}"
            );
        }
        let message = HttpTransport::new("http://10.0.0.1:8080")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("not a loopback address") && message.contains("stealth mode"),
            "{message}"
        );
        for url in ["https://127.0.0.1", "127.0.0.1:80", "http://127.0.0.1/v1"] {
            assert!(
                matches!(HttpTransport::new(url), Err(TransportError::BadUrl(_))),
                "{url}"
            );
        }
    }
}
