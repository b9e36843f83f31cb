//! Stealth mode's transport: HTTP/1.1 to the coordinator's onion service through arti,
//! in-process. The signer opens no clearnet connection and resolves no name: arti is only
//! ever asked for the one onion address, and a failure is an error, never a fallback.
//!
//! arti's state and cache live in `HOME/tor/` (0700); its keystore is in memory, holding
//! only the restricted-discovery key derived from the sealed master key. Each request
//! gets a new stream on arti's circuit to the service, and every connect and exchange is
//! bounded by a timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sluice_tor::network::{start_client, ArtiDirs, NetworkConfig};
use sluice_tor::{DiscoveryKey, OnionAddress, OnionDialer};

use super::transport::{OutgoingRequest, Reply, Transport, TransportError};
use crate::home::Home;

/// One connect (circuit to the service included) may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// One request and its whole reply, once connected.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP over arti to one onion service.
#[derive(Debug)]
pub struct OnionTransport {
    runtime: tokio::runtime::Runtime,
    /// Holds arti (its circuits and directory) for as long as the transport lives.
    dialer: OnionDialer,
}

impl OnionTransport {
    /// Joins the Tor network (bounded) and prepares to reach `address` with `key`.
    /// `network` is the public Tor network except in tests.
    pub fn start(
        home: &Home,
        address: OnionAddress,
        key: &DiscoveryKey,
        network: &NetworkConfig,
    ) -> Result<OnionTransport, TransportError> {
        let url = address.to_string();
        let failed = |reason: String| TransportError::Unreachable {
            url: url.clone(),
            reason,
        };
        // arti keeps circuits and directory information current in the background, also
        // between polls: a worker thread of its own.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start the I/O runtime: {e}")))?;
        let dirs = ArtiDirs::under(&home.dir().join("tor"));
        let client = runtime
            .block_on(start_client(network, &dirs))
            .map_err(|e| failed(e.to_string()))?;
        let dialer =
            OnionDialer::new(client, address, key, CONNECT_TIMEOUT).map_err(|e| failed(e.to_string()))?;
        Ok(OnionTransport { runtime, dialer })
    }
}

impl Transport for OnionTransport {
    fn send(&self, request: OutgoingRequest) -> Result<Reply, TransportError> {
        let url = self.dialer.address().to_string();
        let unreachable = |reason: String| TransportError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut builder = Request::builder()
            .method(request.method)
            .uri(&request.path)
            .header("host", self.dialer.address().host())
            .header("connection", "close");
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
            let stream = self
                .dialer
                .connect()
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let exchange = async {
                let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                // arti services end streams with reason MISC after the reply: the
                // connection task's error after a complete, length-framed reply is not
                // a failure of the exchange.
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("onion stream ended: {e}");
                    }
                });
                let response = sender
                    .send_request(http_request)
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                Reply::read(response).await.map_err(unreachable)
            };
            tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
                .await
                .map_err(|_| TransportError::Timeout {
                    url: url.clone(),
                    seconds: EXCHANGE_TIMEOUT.as_secs(),
                })?
        })
    }

    fn describe(&self) -> String {
        format!("{} (Tor)", self.dialer.address())
    }
}
