//! simnet's RPC methods: the Bitcoin Core calls a coordinator makes, answered in the shapes of
//! the Core the tests run (v31.99) with Core's error codes, plus regtest control (`generatetoaddress`,
//! `invalidateblock`, `reconsiderblock`) and the simnet-only `simnet_reorg`.

use std::str::FromStr;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Address, Amount, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};
use serde_json::{json, Value};

use super::accept::{
    CLUSTER_COUNT_LIMIT, CLUSTER_VSIZE_LIMIT, INCREMENTAL_RELAY_SAT_PER_KVB, MIN_RELAY_SAT_PER_KVB,
    MISSING_INPUTS,
};
use super::json::{self, btc, btc_per_kvb};
use super::node::Node;
use super::node::MAX_FEE_EXCEEDED;
use super::params::Params;
use super::rules::Rejection;
use super::scan;
use sluice_shared::rpc_codes as codes;

/// Core's default `maxfeerate` for `sendrawtransaction`/`testmempoolaccept`: 0.10 BTC/kvB.
const DEFAULT_MAX_FEE_SAT_PER_KVB: u64 = 10_000_000;
/// Core's default `-maxtipage`: 24 hours.
const MAX_TIP_AGE_SECS: u64 = 24 * 60 * 60;
const NOT_FOUND_TX: &str =
    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.";

/// What the RPC layer needs besides the node.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// `estimatesmartfee`'s answer in sat/kvB; `None` answers like a fresh Core node
    /// ("Insufficient data or no feerate found").
    pub fee_estimate_sat_per_kvb: Option<u64>,
}

fn not_found(message: &str) -> Rejection {
    Rejection::new(codes::INVALID_ADDRESS_OR_KEY, message)
}

fn decode_tx(hex: &str) -> Result<Transaction, Rejection> {
    deserialize_hex(hex).map_err(|_| {
        Rejection::new(
            codes::DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })
}

fn regtest_script(address: &str) -> Result<ScriptBuf, Rejection> {
    Address::from_str(address)
        .ok()
        .and_then(|a| a.require_network(bitcoin::Network::Regtest).ok())
        .map(|a| a.script_pubkey())
        .ok_or_else(|| not_found("Error: Invalid address"))
}

fn count(value: i64, what: &str) -> Result<u32, Rejection> {
    u32::try_from(value).map_err(|_| Rejection::new(codes::INVALID_PARAMETER, format!("{what} out of range")))
}

/// Answers one call. `now` is the wall clock in Unix seconds; `burn` pays the coinbase of
/// blocks simnet mines on its own.
pub fn dispatch(
    node: &mut Node,
    settings: &RpcSettings,
    method: &str,
    params: &Value,
    now: u64,
    burn: &ScriptBuf,
) -> Result<Value, Rejection> {
    let p = Params::new(method, params)?;
    let chain = node.chain();
    match method {
        "getblockcount" => Ok(json!(chain.height())),
        "getbestblockhash" => Ok(json!(chain.tip_hash())),
        "getblockchaininfo" => {
            let (bits, target, difficulty) = json::tip_fields(chain.tip());
            Ok(json!({
                "chain": "regtest",
                "blocks": chain.height(),
                "headers": chain.best_header_height(),
                "bestblockhash": chain.tip_hash(),
                "bits": bits,
                "target": target,
                "difficulty": difficulty,
                "time": chain.tip().header.time,
                "mediantime": chain.tip_mtp(),
                "verificationprogress": 1,
                // Core's rule: in initial block download while the tip is more than a day
                // old (`-maxtipage`), so a fresh regtest chain is until a block is mined.
                // (Core latches "done"; simnet asks again each time.)
                "initialblockdownload": u64::from(chain.tip().header.time) + MAX_TIP_AGE_SECS < now,
                "chainwork": json::chainwork(chain.height()),
                "size_on_disk": chain.stored_bytes(),
                "pruned": false,
                "warnings": [],
            }))
        }
        "getnetworkinfo" => Ok(network_info()),
        "getblockhash" => {
            let height = p.int(0, "height")?;
            u32::try_from(height)
                .ok()
                .and_then(|h| chain.hash_at(h))
                .map(|h| json!(h))
                .ok_or_else(|| Rejection::new(codes::INVALID_PARAMETER, "Block height out of range"))
        }
        "getblockheader" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            let (block, _, _) = chain.block(&hash).ok_or_else(|| not_found("Block not found"))?;
            if p.bool_or(1, true)? {
                Ok(json::header(chain, &hash))
            } else {
                Ok(json!(serialize_hex(&block.header)))
            }
        }
        "getblock" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            let (block, _, _) = chain.block(&hash).ok_or_else(|| not_found("Block not found"))?;
            match p.verbosity_or(1, 1)? {
                0 => Ok(json!(serialize_hex(block.as_ref()))),
                verbosity => Ok(json::block(chain, &hash, verbosity)),
            }
        }
        "getrawtransaction" => raw_transaction(node, &p),
        "sendrawtransaction" => {
            let tx = decode_tx(p.str(0, "hexstring")?)?;
            let max_fee = p.fee_rate_or(1, DEFAULT_MAX_FEE_SAT_PER_KVB)?;
            let max_burn = p.amount_or(2, Amount::ZERO)?;
            let burned: Amount = tx
                .output
                .iter()
                .filter(|o| o.script_pubkey.is_op_return() || o.script_pubkey.len() > 10_000)
                .map(|o| o.value)
                .sum();
            if burned > max_burn {
                return Err(Rejection::new(
                    codes::TRANSACTION_ERROR,
                    "Unspendable output exceeds maximum configured by user (maxburnamount)",
                ));
            }
            node.submit(tx, now, max_fee).map(|txid| json!(txid))
        }
        "testmempoolaccept" => {
            let raw = p.required(0, "rawtxs")?;
            let list = raw
                .as_array()
                .filter(|l| (1..=25).contains(&l.len()))
                .ok_or_else(|| {
                    Rejection::new(codes::INVALID_PARAMETER, "Array must contain between 1 and 25 transactions.")
                })?;
            let txs = list
                .iter()
                .map(|v| {
                    let hex = v.as_str().unwrap_or_default();
                    // Unlike sendrawtransaction, Core names the hex here.
                    decode_tx(hex).map_err(|_| {
                        Rejection::new(
                            codes::DESERIALIZATION_ERROR,
                            format!("TX decode failed: {hex} Make sure the tx has at least one input."),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let max_fee = p.fee_rate_or(1, DEFAULT_MAX_FEE_SAT_PER_KVB)?;
            let verdicts = node.test_accept(txs, now, max_fee);
            Ok(json!(verdicts
                .into_iter()
                .map(|v| match v.result {
                    Ok((vsize, fee)) => json!({
                        "txid": v.txid, "wtxid": v.wtxid, "allowed": true, "vsize": vsize,
                        "fees": {
                            "base": btc(fee),
                            "effective-feerate": btc(Amount::from_sat(fee.to_sat() * 1000 / vsize.max(1))),
                            "effective-includes": [v.wtxid],
                        },
                    }),
                    // Core reports missing inputs and its own maxfeerate check by a
                    // reason alone, without details.
                    Err(r) if r.code == codes::TRANSACTION_ERROR && r.reason == MISSING_INPUTS => json!({
                        "txid": v.txid, "wtxid": v.wtxid, "allowed": false,
                        "reject-reason": "missing-inputs",
                    }),
                    Err(r) if r.reason == MAX_FEE_EXCEEDED => json!({
                        "txid": v.txid, "wtxid": v.wtxid, "allowed": false,
                        "reject-reason": r.reason,
                    }),
                    Err(r) => json!({
                        "txid": v.txid, "wtxid": v.wtxid, "allowed": false,
                        "reject-reason": r.reason, "reject-details": r.message(),
                    }),
                })
                .collect::<Vec<_>>()))
        }
        "getrawmempool" => {
            let pool = node.mempool();
            if p.bool_or(0, false)? {
                let entries: serde_json::Map<String, Value> = pool
                    .in_order()
                    .map(|e| (e.txid.to_string(), json::mempool_entry(pool, &e.txid)))
                    .collect();
                Ok(Value::Object(entries))
            } else {
                Ok(json!(pool.in_order().map(|e| e.txid).collect::<Vec<_>>()))
            }
        }
        "getmempoolentry" => {
            let txid: Txid = p.hash(0, "txid")?;
            if !node.mempool().contains(&txid) {
                return Err(not_found("Transaction not in mempool"));
            }
            Ok(json::mempool_entry(node.mempool(), &txid))
        }
        "getmempoolinfo" => {
            let pool = node.mempool();
            Ok(json!({
                "loaded": true,
                "size": pool.len(),
                "bytes": pool.total_vsize(),
                "usage": pool.in_order().map(|e| e.weight as usize + 200).sum::<usize>(),
                "total_fee": btc(pool.total_fee()),
                "maxmempool": 300_000_000,
                "mempoolminfee": btc_per_kvb(MIN_RELAY_SAT_PER_KVB),
                "minrelaytxfee": btc_per_kvb(MIN_RELAY_SAT_PER_KVB),
                "incrementalrelayfee": btc_per_kvb(INCREMENTAL_RELAY_SAT_PER_KVB),
                "unbroadcastcount": pool.in_order().filter(|e| e.unbroadcast).count(),
                "permitbaremultisig": true,
                "maxdatacarriersize": 100_000,
                "limitclustercount": CLUSTER_COUNT_LIMIT,
                "limitclustersize": CLUSTER_VSIZE_LIMIT,
                // Entry order is simnet's only linearization; Core reports whether its
                // own is known optimal, as it is for small mempools.
                "optimal": true,
            }))
        }
        "estimatesmartfee" => {
            let target = p.int(0, "conf_target")?;
            if !(1..=1008).contains(&target) {
                return Err(Rejection::new(
                    codes::INVALID_PARAMETER,
                    "Invalid conf_target, must be between 1 and 1008",
                ));
            }
            Ok(match settings.fee_estimate_sat_per_kvb {
                Some(rate) => json!({ "feerate": btc_per_kvb(rate), "blocks": target.max(2) }),
                // Core reports the target it found an estimate at: none, 0.
                None => json!({ "errors": ["Insufficient data or no feerate found"], "blocks": 0 }),
            })
        }
        "scantxoutset" => scan_tx_out_set(node, &p),
        "gettxout" => {
            let txid: Txid = p.hash(0, "txid")?;
            let vout = count(p.int(1, "n")?, "n")?;
            let outpoint = OutPoint::new(txid, vout);
            let pool = node.mempool();
            let include_mempool = p.bool_or(2, true)?;
            let (out, confirmations, coinbase) = match chain.coin(&outpoint) {
                Some(_) if include_mempool && pool.spender_of(&outpoint).is_some() => return Ok(Value::Null),
                Some(coin) => (coin.out.clone(), chain.height() - coin.height + 1, coin.coinbase),
                None => match pool.output(&outpoint) {
                    Some(out) if include_mempool && pool.spender_of(&outpoint).is_none() => (out.clone(), 0, false),
                    _ => return Ok(Value::Null),
                },
            };
            Ok(json!({
                "bestblock": chain.tip_hash(),
                "confirmations": confirmations,
                "value": btc(out.value),
                "scriptPubKey": json::script_pubkey(&out.script_pubkey),
                "coinbase": coinbase,
            }))
        }
        "getchaintips" => Ok(json!(chain
            .chain_tips()
            .into_iter()
            .map(|t| json!({ "height": t.height, "hash": t.hash, "branchlen": t.branch_len, "status": t.status }))
            .collect::<Vec<_>>())),
        "getindexinfo" => {
            let wanted = p.get(0).and_then(Value::as_str);
            if wanted.is_some_and(|name| name != "txindex") {
                return Ok(json!({}));
            }
            Ok(json!({ "txindex": { "synced": true, "best_block_height": chain.height() } }))
        }
        "generatetoaddress" => {
            let blocks = count(p.int(0, "nblocks")?, "nblocks")?;
            let script = regtest_script(p.str(1, "address")?)?;
            node.mine(blocks, &script, now, true).map(|hashes| json!(hashes))
        }
        "invalidateblock" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            node.invalidate(&hash, now).map(|_| Value::Null)
        }
        "reconsiderblock" => {
            let hash: BlockHash = p.hash(0, "blockhash")?;
            node.reconsider(&hash, now).map(|()| Value::Null)
        }
        "simnet_reorg" => {
            let depth = count(p.int(0, "depth")?, "depth")?;
            let new_blocks = count(p.int_or(1, i64::from(depth) + 1)?, "new_blocks")?;
            let reorg = node.reorg(depth, new_blocks, burn, now)?;
            Ok(json!({ "disconnected": reorg.disconnected, "connected": reorg.connected }))
        }
        "prioritisetransaction" => {
            let txid: Txid = p.hash(0, "txid")?;
            let dummy = match p.get(1) {
                None | Some(Value::Null) => 0.0,
                Some(value) => value.as_f64().ok_or_else(|| {
                    Rejection::new(codes::TYPE_ERROR, "JSON value of type string is not of expected type number")
                })?,
            };
            if dummy != 0.0 {
                return Err(Rejection::new(
                    codes::INVALID_PARAMETER,
                    "Priority is no longer supported, dummy argument to prioritisetransaction must be 0.",
                ));
            }
            let delta = p.int(2, "fee_delta")?;
            node.prioritise(txid, delta);
            Ok(json!(true))
        }
        "ping" => Ok(Value::Null),
        "stop" => Ok(json!("simnet stopping")),
        _ => Err(Rejection::new(codes::METHOD_NOT_FOUND, "Method not found")),
    }
}

fn raw_transaction(node: &Node, p: &Params) -> Result<Value, Rejection> {
    let chain = node.chain();
    let txid: Txid = p.hash(0, "txid")?;
    let verbosity = p.verbosity_or(1, 0)?;
    let (tx, block, in_block_param) = if p.get(2).is_some() {
        let hash: BlockHash = p.hash(2, "blockhash")?;
        let (block, _, _) = chain
            .block(&hash)
            .ok_or_else(|| not_found("Block hash not found"))?;
        let tx = block
            .txdata
            .iter()
            .find(|t| t.compute_txid() == txid)
            .cloned()
            .ok_or_else(|| {
                not_found("No such transaction found in the provided block. Use gettransaction for wallet transactions.")
            })?;
        (tx, Some(hash), true)
    } else if let Some(entry) = node.mempool().get(&txid) {
        (Transaction::clone(&entry.tx), None, false)
    } else {
        let (tx, hash) = chain.transaction(&txid).ok_or_else(|| not_found(NOT_FOUND_TX))?;
        (tx.clone(), Some(hash), false)
    };
    if verbosity == 0 {
        return Ok(json!(serialize_hex(&tx)));
    }
    let mut value = json::raw_transaction(chain, &tx, block.as_ref());
    if in_block_param {
        value["in_active_chain"] = json!(block.is_some_and(|h| chain.is_active(&h)));
    }
    Ok(value)
}

fn scan_tx_out_set(node: &Node, p: &Params) -> Result<Value, Rejection> {
    let chain = node.chain();
    match p.str(0, "action")? {
        "status" => return Ok(Value::Null),
        "abort" => return Ok(json!(false)),
        "start" => {}
        other => {
            return Err(Rejection::new(
                codes::INVALID_PARAMETER,
                format!("Invalid action '{other}'"),
            ))
        }
    }
    let objects = p
        .required(1, "scanobjects")?
        .as_array()
        .ok_or_else(|| Rejection::new(codes::TYPE_ERROR, "scanobjects must be an array"))?;
    let wanted = scan::scripts(objects)?;
    let mut found: Vec<_> = chain
        .utxos()
        .filter_map(|(outpoint, coin)| {
            wanted
                .get(&coin.out.script_pubkey)
                .map(|desc| (outpoint, coin, desc))
        })
        .collect();
    found.sort_by_key(|(o, _, _)| (o.txid, o.vout));
    let total: Amount = found.iter().map(|(_, c, _)| c.out.value).sum();
    let unspents: Vec<Value> = found
        .into_iter()
        .map(|(outpoint, coin, desc)| {
            json!({
                "txid": outpoint.txid,
                "vout": outpoint.vout,
                "scriptPubKey": coin.out.script_pubkey.to_hex_string(),
                "desc": desc,
                "amount": btc(coin.out.value),
                "coinbase": coin.coinbase,
                "height": coin.height,
                "blockhash": chain.hash_at(coin.height),
                "confirmations": chain.height() - coin.height + 1,
            })
        })
        .collect();
    Ok(json!({
        "success": true,
        "txouts": chain.utxo_count(),
        "height": chain.height(),
        "bestblock": chain.tip_hash(),
        "unspents": unspents,
        "total_amount": btc(total),
    }))
}

/// A node with no peers, shaped like Core 30's answer; the subversion says it is simnet.
fn network_info() -> Value {
    let network = |name: &str, reachable: bool| json!({ "name": name, "limited": !reachable, "reachable": reachable, "proxy": "", "proxy_randomize_credentials": false });
    json!({
        "version": 300_000,
        "subversion": "/Satoshi:30.0.0(sluice-simnet)/",
        "protocolversion": 70016,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [
            network("ipv4", true), network("ipv6", true), network("onion", false),
            network("i2p", false), network("cjdns", false),
        ],
        "relayfee": btc_per_kvb(MIN_RELAY_SAT_PER_KVB),
        "incrementalfee": btc_per_kvb(INCREMENTAL_RELAY_SAT_PER_KVB),
        "localaddresses": [],
        "warnings": [],
    })
}
