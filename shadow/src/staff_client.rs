//! The coordinator's staff API, read with the `shadow` role's token: the issued deposit
//! addresses, the deposit ledger and the audit log's heads. Plain outgoing HTTP/1.1 requests; nothing listens.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use sluice_coordinator::audit::Head;
use sluice_shared::deposit_api::{Deposit, DepositAddress, DepositAddressList, DepositList};

/// The most deposits one ledger answer holds (the coordinator's `MAX_DEPOSIT_LISTING`).
pub const LEDGER_LISTING_LIMIT: usize = 1000;

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StaffApiError {
    #[error("{url} is not an http:// URL of the coordinator's staff API")]
    BadUrl { url: String },
    #[error("GET {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("GET {url}: the coordinator answered {status}: {body} (is the token a `shadow` staff token?)")]
    Refused {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url}: the answer is not what the staff API sends: {reason}")]
    Decode { url: String, reason: String },
}

/// A client for the two reads.
pub struct StaffApi {
    base: String,
    token: SecretString,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for StaffApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffApi")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl StaffApi {
    pub fn new(base: &str, token: SecretString) -> Result<StaffApi, StaffApiError> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") || base.parse::<hyper::Uri>().is_err() {
            return Err(StaffApiError::BadUrl { url: base });
        }
        Ok(StaffApi {
            base,
            token,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, StaffApiError> {
        let url = format!("{}{path}", self.base);
        let request = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token.expose_secret()))
            .body(Full::new(Bytes::new()))
            .map_err(|e| StaffApiError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| StaffApiError::Transport {
                url: url.clone(),
                reason: format!("no answer within {} s", TIMEOUT.as_secs()),
            })?
            .map_err(|reason| StaffApiError::Transport {
                url: url.clone(),
                reason,
            })?;
        if status != StatusCode::OK {
            return Err(StaffApiError::Refused {
                url,
                status,
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| StaffApiError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// Every issued deposit address (of every deposit wallet: the cross-check keeps its
    /// own wallet's).
    pub async fn issued_addresses(&self) -> Result<Vec<DepositAddress>, StaffApiError> {
        let list: DepositAddressList = self.get("/v1/deposit-addresses").await?;
        Ok(list.addresses)
    }

    /// The head of the coordinator's verified audit chain; `None` while the log is empty.
    /// A broken chain is refused by the coordinator (`409 conflict`, as `Refused`).
    pub async fn audit_head(&self) -> Result<Option<Head>, StaffApiError> {
        match self.get("/v1/audit/head").await {
            Ok(head) => Ok(Some(head)),
            Err(StaffApiError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The head of audit entry `seq` as the coordinator stores it.
    pub async fn audit_entry(&self, seq: i64) -> Result<Head, StaffApiError> {
        self.get(&format!("/v1/audit/entries/{seq}")).await
    }

    /// The ledger (every wallet, newest first, as many as one answer holds).
    pub async fn ledger(&self) -> Result<Vec<Deposit>, StaffApiError> {
        let list: DepositList = self
            .get(&format!("/v1/deposits?limit={LEDGER_LISTING_LIMIT}"))
            .await?;
        Ok(list.deposits)
    }
}
