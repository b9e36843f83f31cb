//! simnet's JSON-RPC server: the Bitcoin Core calls a coordinator makes, answered in the
//! same shape and with the same error codes and HTTP statuses as Bitcoin Core, plus the
//! regtest control calls `generatetoaddress`, `invalidateblock`, and `simnet_reorg`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Address, BlockHash, Network, ScriptBuf, Transaction, Txid};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::chain::{Rejection, SimChain};

/// How to run simnet.
#[derive(Debug, Clone)]
pub struct SimnetOptions {
    pub listen: SocketAddr,
    /// Mine a block (to an unspendable script) this often; `None` mines only on request.
    pub block_interval: Option<Duration>,
}

/// A running simnet; dropping it does not stop it, `shutdown` does.
#[derive(Debug)]
pub struct SimnetHandle {
    pub url: String,
    pub chain: Arc<Mutex<SimChain>>,
    task: tokio::task::JoinHandle<()>,
}

impl SimnetHandle {
    pub fn shutdown(self) {
        self.task.abort();
    }
}

type RpcResult = Result<Value, Rejection>;

fn err(code: i64, message: &str) -> Rejection {
    Rejection {
        code,
        message: message.to_owned(),
    }
}

fn param<T: FromStr>(params: &Value, index: usize, what: &str) -> Result<T, Rejection> {
    let value = &params[index];
    let text = value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    text.parse()
        .map_err(|_| err(-8, &format!("{what} must be given as parameter {}", index + 1)))
}

fn header_json(chain: &SimChain, height: u64) -> Value {
    let block = chain.block_at(height).map(|b| b.header);
    let Some(header) = block else { return Value::Null };
    json!({
        "hash": header.block_hash(),
        "confirmations": chain.confirmations(height),
        "height": height,
        "version": header.version.to_consensus(),
        "merkleroot": header.merkle_root,
        "time": header.time,
        "mediantime": header.time,
        "nonce": header.nonce,
        "bits": format!("{:08x}", header.bits.to_consensus()),
        "previousblockhash": (height > 0).then_some(header.prev_blockhash),
        "nextblockhash": chain.block_at(height + 1).map(|b| b.block_hash()),
    })
}

fn tx_json(tx: &Transaction, block: Option<(BlockHash, u64, u32)>) -> Value {
    let mut value = json!({
        "txid": tx.compute_txid(),
        "hash": tx.compute_wtxid(),
        "hex": serialize_hex(tx),
        "size": tx.total_size(),
        "vsize": tx.vsize(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
    });
    if let Some((hash, confirmations, time)) = block {
        value["blockhash"] = json!(hash);
        value["confirmations"] = json!(confirmations);
        value["blocktime"] = json!(time);
        value["time"] = json!(time);
    }
    value
}

fn handle(chain: &mut SimChain, method: &str, params: &Value) -> RpcResult {
    match method {
        "getblockcount" => Ok(json!(chain.height())),
        "getbestblockhash" => Ok(json!(chain.tip().block_hash())),
        "getblockchaininfo" => Ok(json!({
            "chain": "regtest", "blocks": chain.height(), "headers": chain.height(),
            "bestblockhash": chain.tip().block_hash(), "initialblockdownload": false,
            "bits": "207fffff", "warnings": [],
        })),
        "getnetworkinfo" => Ok(json!({
            "version": 300000, "subversion": "/Satoshi:30.0.0/sluice-simnet/", "connections": 0, "networkactive": true,
        })),
        "getblockhash" => {
            let height: u64 = param(params, 0, "height")?;
            chain
                .block_at(height)
                .map(|b| json!(b.block_hash()))
                .ok_or_else(|| err(-8, "Block height out of range"))
        }
        "getblockheader" => {
            let hash: BlockHash = param(params, 0, "blockhash")?;
            let height = chain.height_of(&hash).ok_or_else(|| err(-5, "Block not found"))?;
            Ok(header_json(chain, height))
        }
        "getblock" => {
            let hash: BlockHash = param(params, 0, "blockhash")?;
            let verbosity: u64 = if params[1].is_null() {
                1
            } else {
                param(params, 1, "verbosity")?
            };
            let height = chain.height_of(&hash).ok_or_else(|| err(-5, "Block not found"))?;
            let block = chain
                .block_at(height)
                .cloned()
                .ok_or_else(|| err(-5, "Block not found"))?;
            if verbosity == 0 {
                return Ok(json!(serialize_hex(&block)));
            }
            let mut value = header_json(chain, height);
            value["tx"] = if verbosity >= 2 {
                json!(block.txdata.iter().map(|t| tx_json(t, None)).collect::<Vec<_>>())
            } else {
                json!(block.txdata.iter().map(|t| t.compute_txid()).collect::<Vec<_>>())
            };
            Ok(value)
        }
        "getrawtransaction" => {
            let txid: Txid = param(params, 0, "txid")?;
            let verbose = params[1].as_bool().unwrap_or(false) || params[1].as_u64().unwrap_or(0) > 0;
            let (tx, height) = chain.find_transaction(&txid).ok_or_else(|| {
                err(
                    -5,
                    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
                )
            })?;
            if !verbose {
                return Ok(json!(serialize_hex(&tx)));
            }
            let block = height.and_then(|h| {
                chain
                    .block_at(h)
                    .map(|b| (b.block_hash(), chain.confirmations(h), b.header.time))
            });
            Ok(tx_json(&tx, block))
        }
        "sendrawtransaction" | "testmempoolaccept" => {
            let hexes: Vec<String> = if method == "sendrawtransaction" {
                vec![params[0].as_str().unwrap_or_default().to_owned()]
            } else {
                params[0]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default()
            };
            let mut results = Vec::new();
            for hex in hexes {
                let tx: Transaction = deserialize_hex(&hex).map_err(|_| err(-22, "TX decode failed"))?;
                let txid = tx.compute_txid();
                if method == "sendrawtransaction" {
                    return chain.accept(tx).map(|t| json!(t));
                }
                results.push(match chain.check_for_mempool(&tx) {
                    Ok(_) => json!({ "txid": txid, "wtxid": tx.compute_wtxid(), "allowed": true }),
                    Err(r) => json!({ "txid": txid, "wtxid": tx.compute_wtxid(), "allowed": false, "reject-reason": r.message }),
                });
            }
            Ok(json!(results))
        }
        "getrawmempool" => Ok(json!(chain
            .mempool()
            .iter()
            .map(|t| t.compute_txid())
            .collect::<Vec<_>>())),
        "getmempoolinfo" => Ok(json!({
            "loaded": true, "size": chain.mempool().len(),
            "bytes": chain.mempool().iter().map(|t| t.vsize()).sum::<usize>(),
            "mempoolminfee": 0.00001, "minrelaytxfee": 0.00001,
        })),
        "getmempoolentry" => {
            let txid: Txid = param(params, 0, "txid")?;
            let tx = chain
                .mempool()
                .iter()
                .find(|t| t.compute_txid() == txid)
                .cloned()
                .ok_or_else(|| err(-5, "Transaction not in mempool"))?;
            Ok(json!({
                "vsize": tx.vsize(), "weight": tx.weight().to_wu(), "time": chain.tip().header.time, "height": chain.height(),
                "fees": { "base": 0.0, "modified": 0.0 }, "bip125-replaceable": true, "depends": [],
            }))
        }
        "estimatesmartfee" => Ok(json!({ "feerate": 0.0001, "blocks": 2 })),
        "scantxoutset" => {
            let descriptors = params[1].as_array().cloned().unwrap_or_default();
            let mut unspents = Vec::new();
            for d in descriptors {
                let text = d.as_str().unwrap_or_default();
                let script = if let Some(addr) = text.strip_prefix("addr(").and_then(|s| s.strip_suffix(')'))
                {
                    Address::from_str(addr)
                        .ok()
                        .and_then(|a| a.require_network(Network::Regtest).ok())
                        .map(|a| a.script_pubkey())
                } else {
                    text.strip_prefix("raw(")
                        .and_then(|s| s.strip_suffix(')'))
                        .and_then(|h| ScriptBuf::from_hex(h).ok())
                };
                let script = script.ok_or_else(|| {
                    err(
                        -8,
                        &format!("unsupported scan object {text}: use addr(...) or raw(...)"),
                    )
                })?;
                for (outpoint, out, height) in chain.unspent_for(&script) {
                    unspents.push(json!({
                        "txid": outpoint.txid, "vout": outpoint.vout, "scriptPubKey": out.script_pubkey.to_hex_string(),
                        "desc": text, "amount": out.value.to_btc(), "height": height,
                    }));
                }
            }
            let total: f64 = unspents.iter().filter_map(|u| u["amount"].as_f64()).sum();
            Ok(
                json!({ "success": true, "txouts": unspents.len(), "height": chain.height(), "bestblock": chain.tip().block_hash(), "unspents": unspents, "total_amount": total }),
            )
        }
        "generatetoaddress" => {
            let count: u64 = param(params, 0, "nblocks")?;
            let address: Address<bitcoin::address::NetworkUnchecked> = param(params, 1, "address")?;
            let script = address
                .require_network(Network::Regtest)
                .map_err(|_| err(-5, "Error: Invalid address"))?
                .script_pubkey();
            Ok(json!((0..count.min(10_000))
                .map(|_| chain.mine(&script))
                .collect::<Vec<_>>()))
        }
        "invalidateblock" => {
            let hash: BlockHash = param(params, 0, "blockhash")?;
            chain.invalidate(&hash).map(|()| Value::Null)
        }
        "simnet_reorg" => {
            // simnet only: replace the last `depth` blocks with `depth + 1` blocks holding only
            // their coinbase, so the reorged-out transactions stay unconfirmed.
            let depth: u64 = param(params, 0, "depth")?;
            let at = chain
                .height()
                .checked_sub(depth.saturating_sub(1))
                .filter(|h| *h > 0)
                .ok_or_else(|| err(-8, "reorg deeper than the chain"))?;
            let hash = chain
                .block_at(at)
                .map(|b| b.block_hash())
                .ok_or_else(|| err(-8, "no such block"))?;
            chain.invalidate(&hash)?;
            let burn = ScriptBuf::new_op_return([]);
            Ok(json!((0..=depth)
                .map(|_| chain.mine_empty(&burn))
                .collect::<Vec<_>>()))
        }
        _ => Err(err(-32601, "Method not found")),
    }
}

fn reply(id: &Value, result: RpcResult) -> (u16, String) {
    match result {
        Ok(value) => (
            200,
            json!({ "result": value, "error": null, "id": id }).to_string(),
        ),
        Err(r) => {
            let status = if r.code == -32601 { 404 } else { 500 };
            (
                status,
                json!({ "result": null, "error": { "code": r.code, "message": r.message }, "id": id })
                    .to_string(),
            )
        }
    }
}

/// Starts simnet on `options.listen` (port 0 picks a free port) in the current runtime.
pub async fn spawn(options: SimnetOptions) -> std::io::Result<SimnetHandle> {
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let chain = Arc::new(Mutex::new(SimChain::new()));
    let shared = chain.clone();
    let task = tokio::spawn(async move {
        if let Some(interval) = options.block_interval {
            let miner = shared.clone();
            tokio::spawn(async move {
                let burn = ScriptBuf::new_op_return([]);
                loop {
                    tokio::time::sleep(interval).await;
                    if let Ok(mut chain) = miner.lock() {
                        chain.mine(&burn);
                    }
                }
            });
        }
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // e.g. out of file descriptors: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let chain = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let chain = chain.clone();
                    async move {
                        let body = Limited::new(req.into_body(), 4 << 20)
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let id = request["id"].clone();
                        let method = request["method"].as_str().unwrap_or_default().to_owned();
                        let params = request["params"].clone();
                        let result = match chain.lock() {
                            Ok(mut chain) => handle(&mut chain, &method, &params),
                            Err(_) => Err(err(-1, "simnet state is poisoned")),
                        };
                        let (status, text) = reply(&id, result);
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(text)))
                                .unwrap_or_default(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(SimnetHandle { url, chain, task })
}
