//! The Bitcoin Core JSON-RPC client: HTTP/1.1 POST with Basic authentication (user and
//! password, or Core's `.cookie` file), a timeout on every call, typed results.

use std::path::Path;
use std::time::Duration;

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Block, BlockHash, Transaction, Txid};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::reply::{parse_reply, RpcError};
use super::types::*;

/// How to authenticate to bitcoind. The password is never printed.
#[derive(Clone)]
pub enum RpcAuth {
    None,
    UserPass { user: String, password: String },
}

impl std::fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcAuth::None => f.write_str("RpcAuth::None"),
            RpcAuth::UserPass { user, .. } => {
                write!(f, "RpcAuth::UserPass {{ user: {user:?}, password: <secret> }}")
            }
        }
    }
}

impl RpcAuth {
    /// Reads Core's cookie file (`__cookie__:PASSWORD`).
    pub fn from_cookie_file(path: &Path) -> Result<RpcAuth, RpcError> {
        let text = std::fs::read_to_string(path).map_err(|e| RpcError::Transport {
            url: path.display().to_string(),
            reason: format!("cannot read the cookie file: {e}"),
        })?;
        let (user, password) = text.trim().split_once(':').ok_or_else(|| RpcError::Transport {
            url: path.display().to_string(),
            reason: "the cookie file is not USER:PASSWORD".to_owned(),
        })?;
        Ok(RpcAuth::UserPass {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    fn header(&self) -> Option<String> {
        match self {
            RpcAuth::None => None,
            RpcAuth::UserPass { user, password } => {
                Some(format!("Basic {}", BASE64.encode(format!("{user}:{password}"))))
            }
        }
    }
}

/// A client for one bitcoind (or simnet) RPC endpoint.
#[derive(Debug, Clone)]
pub struct CoreRpcClient {
    url: String,
    auth: RpcAuth,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl CoreRpcClient {
    pub fn new(url: &str, auth: RpcAuth) -> CoreRpcClient {
        CoreRpcClient {
            url: url.trim_end_matches('/').to_owned(),
            auth,
            timeout: Duration::from_secs(30),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> CoreRpcClient {
        self.timeout = timeout;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` and decodes the result as `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        let transport = |reason: String| RpcError::Transport {
            url: self.url.clone(),
            reason,
        };
        let body =
            json!({ "jsonrpc": "1.0", "id": "sluice", "method": method, "params": params }).to_string();
        let mut request = hyper::Request::post(&self.url).header("content-type", "application/json");
        if let Some(auth) = self.auth.header() {
            request = request.header("authorization", auth);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| transport(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(transport(format!(
                "HTTP {status}: the RPC user or password is wrong"
            )));
        }
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .map_err(|_| transport("the reply body did not arrive in time".to_owned()))?
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        parse_reply(method, status, &body)
    }

    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, RpcError> {
        self.call("getblockchaininfo", json!([])).await
    }

    pub async fn get_network_info(&self) -> Result<NetworkInfo, RpcError> {
        self.call("getnetworkinfo", json!([])).await
    }

    pub async fn get_block_count(&self) -> Result<u64, RpcError> {
        self.call("getblockcount", json!([])).await
    }

    pub async fn get_best_block_hash(&self) -> Result<BlockHash, RpcError> {
        self.call("getbestblockhash", json!([])).await
    }

    pub async fn get_block_hash(&self, height: u64) -> Result<BlockHash, RpcError> {
        self.call("getblockhash", json!([height])).await
    }

    pub async fn get_block_header(&self, hash: &BlockHash) -> Result<BlockHeaderInfo, RpcError> {
        self.call("getblockheader", json!([hash, true])).await
    }

    /// The whole block, decoded from Core's raw serialization.
    pub async fn get_block(&self, hash: &BlockHash) -> Result<Block, RpcError> {
        let hex: String = self.call("getblock", json!([hash, 0])).await?;
        deserialize_hex(&hex).map_err(|e| RpcError::Decode {
            method: "getblock".to_owned(),
            reason: e.to_string(),
        })
    }

    pub async fn get_block_verbose(&self, hash: &BlockHash) -> Result<VerboseBlock, RpcError> {
        self.call("getblock", json!([hash, 2])).await
    }

    pub async fn get_raw_transaction_verbose(&self, txid: &Txid) -> Result<VerboseTransaction, RpcError> {
        self.call("getrawtransaction", json!([txid, true])).await
    }

    pub async fn send_raw_transaction(&self, tx: &Transaction) -> Result<Txid, RpcError> {
        self.call("sendrawtransaction", json!([serialize_hex(tx)])).await
    }

    pub async fn test_mempool_accept(&self, txs: &[Transaction]) -> Result<Vec<MempoolAccept>, RpcError> {
        let hexes: Vec<String> = txs.iter().map(serialize_hex).collect();
        self.call("testmempoolaccept", json!([hexes])).await
    }

    pub async fn get_mempool_entry(&self, txid: &Txid) -> Result<MempoolEntry, RpcError> {
        self.call("getmempoolentry", json!([txid])).await
    }

    pub async fn get_raw_mempool(&self) -> Result<Vec<Txid>, RpcError> {
        self.call("getrawmempool", json!([])).await
    }

    pub async fn get_mempool_info(&self) -> Result<MempoolInfo, RpcError> {
        self.call("getmempoolinfo", json!([])).await
    }

    pub async fn estimate_smart_fee(&self, target_blocks: u16) -> Result<FeeEstimate, RpcError> {
        self.call("estimatesmartfee", json!([target_blocks])).await
    }

    /// Scans the UTXO set for output descriptors (e.g. `addr(...)`, `raw(...)`).
    pub async fn scan_tx_out_set(&self, descriptors: &[String]) -> Result<ScanResult, RpcError> {
        self.call("scantxoutset", json!(["start", descriptors])).await
    }

    /// Regtest control (Bitcoin Core and simnet): mine `count` blocks paying `address`.
    pub async fn generate_to_address(
        &self,
        count: u64,
        address: &bitcoin::Address,
    ) -> Result<Vec<BlockHash>, RpcError> {
        self.call("generatetoaddress", json!([count, address.to_string()]))
            .await
    }

    /// Regtest control: disconnect `hash` and its descendants (a reorg when followed by mining).
    pub async fn invalidate_block(&self, hash: &BlockHash) -> Result<(), RpcError> {
        let _: Value = self.call("invalidateblock", json!([hash])).await?;
        Ok(())
    }
}
