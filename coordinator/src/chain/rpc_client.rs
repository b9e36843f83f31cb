//! The Bitcoin Core JSON-RPC client: HTTP/1.1 POST of a JSON-RPC 1.0 request (what
//! `bitcoin-cli` sends), Basic authentication, one deadline per call covering connect,
//! request and the whole reply, typed results.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Address, Block, BlockHash, Transaction, Txid};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::auth::RpcAuth;
use super::reply::{parse_reply, RpcError};
use super::types::*;

/// The largest reply we read: a full block at verbosity 2 is tens of megabytes of JSON.
const MAX_REPLY_BYTES: usize = 256 << 20;

/// A client for one bitcoind (or simnet) RPC endpoint. Cheap to clone; clones share the
/// connection pool.
#[derive(Debug, Clone)]
pub struct CoreRpcClient {
    /// The endpoint as shown in errors: never with credentials.
    url: String,
    endpoint: Result<Uri, String>,
    auth: RpcAuth,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
    next_id: Arc<AtomicU64>,
}

impl CoreRpcClient {
    /// A client for `url` (`http://host:port`, optionally `/wallet/NAME`). Credentials
    /// written into the URL (`http://user:pass@host`) are moved out of it and used when
    /// `auth` is [`RpcAuth::None`]. A URL we cannot use fails every call with an error
    /// that says why.
    pub fn new(url: &str, auth: RpcAuth) -> CoreRpcClient {
        let (shown, endpoint, url_auth) = parse_endpoint(url);
        let auth = match (auth, url_auth) {
            (RpcAuth::None, Some(from_url)) => from_url,
            (auth, _) => auth,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        CoreRpcClient {
            url: shown,
            endpoint,
            auth,
            timeout: Duration::from_secs(30),
            http,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The deadline for each call (default 30 s), from sending to the last byte of the reply.
    pub fn with_timeout(mut self, timeout: Duration) -> CoreRpcClient {
        self.timeout = timeout;
        self
    }

    /// The endpoint without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn transport(&self, method: &str, reason: String) -> RpcError {
        RpcError::Transport {
            url: self.url.clone(),
            method: method.to_owned(),
            reason,
        }
    }

    fn timed_out(&self, method: &str) -> RpcError {
        RpcError::Timeout {
            url: self.url.clone(),
            method: method.to_owned(),
            timeout: self.timeout,
        }
    }

    fn decode(&self, method: &str, reason: String) -> RpcError {
        RpcError::Decode {
            url: self.url.clone(),
            method: method.to_owned(),
            reason,
        }
    }

    /// Calls `method` with positional `params` and decodes the result as `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        let uri = self
            .endpoint
            .clone()
            .map_err(|reason| self.transport(method, reason))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "1.0", "id": id, "method": method, "params": params }).to_string();
        let mut request = hyper::Request::post(uri).header(CONTENT_TYPE, "application/json");
        let header = self.auth.header().map_err(|e| RpcError::Credentials {
            url: self.url.clone(),
            method: method.to_owned(),
            reason: e.to_string(),
        })?;
        if let Some(header) = header {
            request = request.header(AUTHORIZATION, header);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.transport(method, e.to_string()))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = tokio::time::timeout_at(deadline, self.http.request(request))
            .await
            .map_err(|_| self.timed_out(method))?
            .map_err(|e| self.transport(method, error_chain(&e)))?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RpcError::Unauthorized {
                url: self.url.clone(),
                method: method.to_owned(),
                status,
            });
        }
        let body = tokio::time::timeout_at(
            deadline,
            Limited::new(response.into_body(), MAX_REPLY_BYTES).collect(),
        )
        .await
        .map_err(|_| self.timed_out(method))?
        .map_err(|e| self.transport(method, format!("reading the reply: {e}")))?
        .to_bytes();
        parse_reply(&self.url, method, status, &body)
    }

    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, RpcError> {
        self.call("getblockchaininfo", json!([])).await
    }

    pub async fn get_network_info(&self) -> Result<NetworkInfo, RpcError> {
        self.call("getnetworkinfo", json!([])).await
    }

    pub async fn get_block_count(&self) -> Result<u32, RpcError> {
        self.call("getblockcount", json!([])).await
    }

    pub async fn get_best_block_hash(&self) -> Result<BlockHash, RpcError> {
        self.call("getbestblockhash", json!([])).await
    }

    /// The hash of the active chain's block at `height`; `-8` above the tip.
    pub async fn get_block_hash(&self, height: u32) -> Result<BlockHash, RpcError> {
        self.call("getblockhash", json!([height])).await
    }

    pub async fn get_block_header(&self, hash: &BlockHash) -> Result<BlockHeaderInfo, RpcError> {
        self.call("getblockheader", json!([hash, true])).await
    }

    /// The whole block, decoded from Core's raw serialization and checked: it must hash to
    /// `hash` and its transactions must match its merkle root.
    pub async fn get_block(&self, hash: &BlockHash) -> Result<Block, RpcError> {
        let hex: String = self.call("getblock", json!([hash, 0])).await?;
        let block: Block = deserialize_hex(&hex).map_err(|e| self.decode("getblock", e.to_string()))?;
        if block.block_hash() != *hash {
            return Err(self.decode(
                "getblock",
                format!("asked for block {hash}, got {}", block.block_hash()),
            ));
        }
        if !block.check_merkle_root() {
            return Err(self.decode(
                "getblock",
                format!("block {hash}: transactions do not match the merkle root"),
            ));
        }
        Ok(block)
    }

    pub async fn get_block_verbose(&self, hash: &BlockHash) -> Result<VerboseBlock, RpcError> {
        self.call("getblock", json!([hash, 2])).await
    }

    /// A mempool transaction, or a confirmed one on a node with `-txindex=1`.
    pub async fn get_raw_transaction(&self, txid: &Txid) -> Result<Transaction, RpcError> {
        let hex: String = self.call("getrawtransaction", json!([txid, false])).await?;
        let tx: Transaction =
            deserialize_hex(&hex).map_err(|e| self.decode("getrawtransaction", e.to_string()))?;
        if tx.compute_txid() != *txid {
            return Err(self.decode(
                "getrawtransaction",
                format!("asked for {txid}, got {}", tx.compute_txid()),
            ));
        }
        Ok(tx)
    }

    pub async fn get_raw_transaction_verbose(&self, txid: &Txid) -> Result<VerboseTransaction, RpcError> {
        self.call("getrawtransaction", json!([txid, true])).await
    }

    /// Submits `tx` to the node's mempool and relays it. Core answers with the txid when
    /// the transaction is already in its mempool, and `-27` when it is already confirmed.
    pub async fn send_raw_transaction(&self, tx: &Transaction) -> Result<Txid, RpcError> {
        let txid: Txid = self
            .call("sendrawtransaction", json!([serialize_hex(tx)]))
            .await?;
        if txid != tx.compute_txid() {
            return Err(self.decode(
                "sendrawtransaction",
                format!("sent {}, the node answered {txid}", tx.compute_txid()),
            ));
        }
        Ok(txid)
    }

    /// Would the mempool take these transactions (parents before children)? Nothing is
    /// broadcast.
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

    /// A fee rate for confirmation within `target_blocks` (Core's `conservative` mode).
    pub async fn estimate_smart_fee(&self, target_blocks: u16) -> Result<FeeEstimate, RpcError> {
        self.call("estimatesmartfee", json!([target_blocks])).await
    }

    /// Scans the UTXO set for output descriptors (`addr(...)`, `raw(...)`, `wpkh(...)`...).
    pub async fn scan_tx_out_set(&self, descriptors: &[String]) -> Result<ScanResult, RpcError> {
        self.call("scantxoutset", json!(["start", descriptors])).await
    }

    /// The unspent output `txid:vout` (mempool spends and outputs counted), or `None` when
    /// it is spent or never existed.
    pub async fn get_tx_out(&self, txid: &Txid, vout: u32) -> Result<Option<TxOutInfo>, RpcError> {
        self.call("gettxout", json!([txid, vout, true])).await
    }

    /// Whether the node keeps a transaction index (`-txindex=1`), which
    /// `getrawtransaction` needs to find confirmed transactions.
    pub async fn has_synced_tx_index(&self) -> Result<bool, RpcError> {
        let indexes: Value = self.call("getindexinfo", json!(["txindex"])).await?;
        Ok(indexes["txindex"]["synced"].as_bool() == Some(true))
    }

    /// Regtest control (Bitcoin Core and simnet): mine `count` blocks paying `address`.
    pub async fn generate_to_address(
        &self,
        count: u32,
        address: &Address,
    ) -> Result<Vec<BlockHash>, RpcError> {
        self.call("generatetoaddress", json!([count, address.to_string()]))
            .await
    }

    /// Marks `hash` invalid: it and its descendants are disconnected and the node follows
    /// its best other chain (a reorg when that chain is then extended).
    pub async fn invalidate_block(&self, hash: &BlockHash) -> Result<(), RpcError> {
        let _: Value = self.call("invalidateblock", json!([hash])).await?;
        Ok(())
    }

    /// Undoes [`invalidate_block`](Self::invalidate_block) for `hash` and its descendants.
    pub async fn reconsider_block(&self, hash: &BlockHash) -> Result<(), RpcError> {
        let _: Value = self.call("reconsiderblock", json!([hash])).await?;
        Ok(())
    }
}

/// Splits credentials out of `url`: (URL to show, URI to call, credentials from the URL).
fn parse_endpoint(url: &str) -> (String, Result<Uri, String>, Option<RpcAuth>) {
    let uri: Uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => {
            // Show the URL only up to a possible '@' so a password typed into it stays out.
            let shown = url.rsplit_once('@').map_or(url, |(_, host)| host).to_owned();
            return (shown.clone(), Err(format!("{shown:?} is not a URL: {e}")), None);
        }
    };
    let Some(authority) = uri.authority() else {
        return (url.to_owned(), Err(format!("{url:?} has no host")), None);
    };
    let (credentials, host) = match authority.as_str().rsplit_once('@') {
        Some((credentials, host)) => (Some(credentials), host),
        None => (None, authority.as_str()),
    };
    let scheme = uri.scheme_str().unwrap_or("http");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let shown = format!("{scheme}://{host}{}", if path == "/" { "" } else { path });
    if scheme != "http" {
        return (
            shown.clone(),
            Err(format!(
                "{shown}: only http:// is supported (put TLS in front of bitcoind with a local proxy)"
            )),
            None,
        );
    }
    let auth = credentials.map(|c| match c.split_once(':') {
        Some((user, password)) => RpcAuth::user_pass(user, password),
        None => RpcAuth::user_pass(c, ""),
    });
    let endpoint = format!("http://{host}{path}")
        .parse::<Uri>()
        .map_err(|e| e.to_string());
    (shown, endpoint, auth)
}

/// An error with its causes, which hyper keeps in `source()`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_moved_out_of_it() {
        let (shown, endpoint, auth) = parse_endpoint("http://alice:hunter2@127.0.0.1:18443/wallet/w");
        assert_eq!(shown, "http://127.0.0.1:18443/wallet/w");
        assert_eq!(endpoint.unwrap().to_string(), "http://127.0.0.1:18443/wallet/w");
        let auth = auth.unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(matches!(auth, RpcAuth::UserPass { ref user, .. } if user == "alice"));
        let client = CoreRpcClient::new("http://alice:hunter2@127.0.0.1:1", RpcAuth::None);
        assert!(!format!("{client:?}").contains("hunter2"));
        assert_eq!(client.url(), "http://127.0.0.1:1");
    }

    #[test]
    fn unusable_urls_say_why() {
        assert!(parse_endpoint("https://node:8332")
            .1
            .unwrap_err()
            .contains("only http://"));
        assert!(parse_endpoint("not a url").1.is_err());
        let (shown, endpoint, _) = parse_endpoint("127.0.0.1:8332 x:pw@");
        assert!(endpoint.is_err());
        assert!(!shown.contains("pw"));
    }
}
