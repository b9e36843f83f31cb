//! Outgoing webhooks: the delivery service (`run webhooks`, part of `run all`) POSTs each
//! outbox event (`db::webhooks`, filled by triggers in the transaction of the change) to
//! every configured endpoint until it answers 2xx, with exponential back-off, logging
//! every attempt. At least once: an event is retried until delivered, across restarts
//! and crashes (the outbox and the log are in the database); receivers de-duplicate on
//! `Sluice-Event-Id`, which a retry repeats with the same body.
//!
//! Every request carries `Sluice-Timestamp: UNIX_SECONDS` and
//! `Sluice-Signature: sha256=HEX(HMAC-SHA256(secret, TIMESTAMP "." BODY))`; the body is
//! `{"id", "type", "created_at", "data"}`.

use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::clock;
use crate::db::webhooks::{Delivery, OutboxEvent};
use crate::service::Coordinator;

pub const EVENT_ID_HEADER: &str = "Sluice-Event-Id";
pub const TIMESTAMP_HEADER: &str = "Sluice-Timestamp";
pub const SIGNATURE_HEADER: &str = "Sluice-Signature";

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long one POST may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A configured receiver: where to POST and the secret that signs each request.
pub struct WebhookEndpoint {
    url: String,
    uri: hyper::Uri,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Clone for WebhookEndpoint {
    fn clone(&self) -> Self {
        WebhookEndpoint {
            url: self.url.clone(),
            uri: self.uri.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// An endpoint that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("webhook URL {0:?} is not an http:// URL (https receivers: put a TLS-terminating proxy on this host, see the staff guide)")]
    Url(String),
    #[error("the webhook secret must be at least 16 bytes (the first line of the secret file)")]
    ShortSecret,
}

impl WebhookEndpoint {
    pub fn new(url: &str, secret: Zeroizing<Vec<u8>>) -> Result<WebhookEndpoint, EndpointError> {
        let uri: hyper::Uri = url.parse().map_err(|_| EndpointError::Url(url.to_owned()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(EndpointError::Url(url.to_owned()));
        }
        if secret.len() < 16 {
            return Err(EndpointError::ShortSecret);
        }
        Ok(WebhookEndpoint {
            url: url.to_owned(),
            uri,
            secret,
        })
    }

    /// The endpoint's name in the delivery log.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `timestamp.body` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait after `attempts` failed attempts: `base`, doubling, at most an hour.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// The JSON body of an event (the same bytes on every attempt).
pub fn body(event: &OutboxEvent) -> Vec<u8> {
    let data: serde_json::Value = serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    let value = serde_json::json!({
        "id": event.event_id,
        "type": event.kind,
        "created_at": event.created_at,
        "data": data,
    });
    value.to_string().into_bytes()
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn post(
    client: &HttpClient,
    endpoint: &WebhookEndpoint,
    event: &OutboxEvent,
) -> (Option<u16>, Option<String>) {
    let body = body(event);
    let timestamp = clock::now().secs();
    let request = hyper::Request::post(endpoint.uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "sluice-coordinator-webhooks")
        .header(EVENT_ID_HEADER, &event.event_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(&endpoint.secret, timestamp, &body))
        .body(Full::new(Bytes::from(body)));
    let request = match request {
        Ok(request) => request,
        Err(e) => return (None, Some(format!("cannot build the request: {e}"))),
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, client.request(request)).await {
        Err(_) => (
            None,
            Some(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())),
        ),
        Ok(Err(e)) => (None, Some(format!("{e}"))),
        Ok(Ok(response)) => {
            let status = response.status();
            // Drain (bounded by the timeout above being over): the connection is reused.
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect()).await;
            if status.is_success() {
                (Some(status.as_u16()), None)
            } else {
                (
                    Some(status.as_u16()),
                    Some(format!("the receiver answered {status}")),
                )
            }
        }
    }
}

/// One pass: every due event to every endpoint. Returns whether anything was delivered.
/// An endpoint that fails is left for its back-off; the others go on.
pub async fn deliver_pass(
    coord: &mut Coordinator,
    client: &HttpClient,
    endpoints: &[WebhookEndpoint],
    base: Duration,
) -> anyhow::Result<bool> {
    let mut delivered_any = false;
    for endpoint in endpoints {
        let due = tokio::task::block_in_place(|| coord.webhook_due(endpoint.url(), clock::now_millis()))?;
        for event in due {
            let (http_status, error) = post(client, endpoint, &event).await;
            let delivered = error.is_none();
            let attempt = event.attempts.saturating_add(1);
            let now_ms = clock::now_millis();
            let next = (!delivered).then(|| {
                let wait = i64::try_from(backoff(base, attempt).as_millis()).unwrap_or(i64::MAX);
                now_ms.saturating_add(wait)
            });
            let record = Delivery {
                event_id: event.event_id.clone(),
                kind: event.kind.clone(),
                endpoint: endpoint.url().to_owned(),
                attempt,
                attempted_at_ms: now_ms,
                http_status,
                error: error.clone(),
                delivered,
                next_attempt_at_ms: next,
            };
            tokio::task::block_in_place(|| coord.record_webhook_attempt(event.seq, &record))?;
            if let Some(error) = error {
                tracing::warn!(
                    endpoint = endpoint.url(),
                    event = %event.event_id,
                    attempt,
                    "webhook not delivered, will retry: {error}"
                );
                // Keep order per endpoint: the rest wait for this one's retry.
                break;
            }
            delivered_any = true;
        }
    }
    Ok(delivered_any)
}

/// The delivery service: passes until stopped.
pub async fn run(
    mut coord: Coordinator,
    endpoints: Vec<WebhookEndpoint>,
    base: Duration,
    interval: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    loop {
        let pause = match deliver_pass(&mut coord, &client, &endpoints, base).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => interval.min(base),
            Err(e) => {
                tracing::error!("webhook pass failed: {e:#}");
                interval
            }
        };
        if crate::run::pause_or_stop(&stop, pause).await {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"), with our `timestamp.` prefix folded into the data.
    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Ours is the same HMAC over "TIMESTAMP.BODY".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature(b"k", 1_700_000_000, br#"{"a":1}"#), expected);
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 1), Duration::from_secs(1));
        assert_eq!(backoff(base, 2), Duration::from_secs(2));
        assert_eq!(backoff(base, 5), Duration::from_secs(16));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn endpoints_must_be_http_with_a_real_secret() {
        let secret = || Zeroizing::new(b"0123456789abcdef".to_vec());
        assert!(WebhookEndpoint::new("http://127.0.0.1:9/hook", secret()).is_ok());
        assert!(WebhookEndpoint::new("https://example.com/hook", secret()).is_err());
        assert!(WebhookEndpoint::new("not a url", secret()).is_err());
        assert!(matches!(
            WebhookEndpoint::new("http://127.0.0.1:9/", Zeroizing::new(b"short".to_vec())),
            Err(EndpointError::ShortSecret)
        ));
        let shown = format!("{:?}", WebhookEndpoint::new("http://h/", secret()).unwrap());
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}
