//! The Bitcoin Core client against every reply captured from a real Core 30 node
//! (`../shared/fixtures/bitcoin-core/core_rpc_samples.json`), errors included, replayed by a
//! loopback HTTP server with the status codes bitcoind uses (200, 500 for RPC errors, 404
//! for an unknown method), so the client's real HTTP path runs. The server also checks
//! what the client sends: POST, JSON-RPC 1.0, the expected method, Basic credentials.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine;
use bitcoin::{Amount, BlockHash, FeeRate, Network, Txid};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sluice_coordinator::chain::{Broadcast, ChainBackend, CoreRpcClient, RpcAuth, RpcError, TxStatus};

const TIP: &str = "5c617e9831f395d13d61e3a512773ed8db894ad4667f1189fd135287d4bbb83a";

fn fixtures() -> BTreeMap<String, Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/core_rpc_samples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The method each captured reply answers.
fn method_of(key: &str) -> &'static str {
    match key {
        "estimatesmartfee" => "estimatesmartfee",
        "getbestblockhash" => "getbestblockhash",
        "getblock_v2" => "getblock",
        "getblockchaininfo" => "getblockchaininfo",
        "getblockcount" => "getblockcount",
        "getblockhash" | "getblockhash_out_of_range" => "getblockhash",
        "getblockheader" => "getblockheader",
        "getmempoolentry" => "getmempoolentry",
        "getmempoolinfo" => "getmempoolinfo",
        "getnetworkinfo" => "getnetworkinfo",
        "getrawmempool" => "getrawmempool",
        "getrawtransaction_mempool_verbose" | "getrawtransaction_unknown" | "getrawtransaction_verbose" => {
            "getrawtransaction"
        }
        "method_not_found" => "nosuchmethod",
        "scantxoutset_start" => "scantxoutset",
        "sendrawtransaction_already_confirmed" => "sendrawtransaction",
        "testmempoolaccept_reject" => "testmempoolaccept",
        other => panic!("fixture {other} is new: say which method it answers and check it below"),
    }
}

struct Replay {
    url: String,
    /// Everything the server found wrong with the requests it got.
    problems: Arc<Mutex<Vec<String>>>,
}

/// Serves fixture KEY at `/KEY` with its recorded HTTP status (200 when none), after
/// checking the request. Wrong credentials get bitcoind's bare 401.
async fn replay(fixtures: BTreeMap<String, Value>, authorization: String) -> Replay {
    let fixtures = Arc::new(fixtures);
    let problems = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = problems.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fixtures = fixtures.clone();
            let seen = seen.clone();
            let authorization = authorization.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let fixtures = fixtures.clone();
                    let seen = seen.clone();
                    let authorization = authorization.clone();
                    async move {
                        let key = req.uri().path().trim_start_matches('/').to_owned();
                        let auth_ok = req.headers().get("authorization").map(|v| v.to_str().unwrap())
                            == Some(authorization.as_str());
                        let post = req.method() == hyper::Method::POST;
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let mut problems = Vec::new();
                        if !post {
                            problems.push(format!("{key}: not a POST"));
                        }
                        if request["jsonrpc"] != "1.0"
                            || !request["params"].is_array()
                            || request["id"].is_null()
                        {
                            problems.push(format!("{key}: not a JSON-RPC 1.0 request: {request}"));
                        }
                        if fixtures.contains_key(&key) && request["method"] != method_of(&key) {
                            problems.push(format!("{key}: method {}", request["method"]));
                        }
                        seen.lock().unwrap().extend(problems);
                        let (status, body) = match fixtures.get(&key) {
                            _ if !auth_ok => (401, String::new()),
                            Some(v) if v.get("http_status").is_some() => {
                                (v["http_status"].as_u64().unwrap() as u16, v["body"].to_string())
                            }
                            Some(v) => (200, v.to_string()),
                            None => (404, "no such fixture".to_owned()),
                        };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Replay { url, problems }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

fn client(base: &str, key: &str) -> CoreRpcClient {
    CoreRpcClient::new(&format!("{base}/{key}"), RpcAuth::user_pass("u", "p"))
}

#[tokio::test]
async fn every_captured_reply_parses_into_its_type() {
    let fx = fixtures();
    let server = replay(fx.clone(), basic("u", "p")).await;
    let some_txid = Txid::from_str(&"11".repeat(32)).unwrap();
    let tip = BlockHash::from_str(TIP).unwrap();
    let confirmed_tx: bitcoin::Transaction = bitcoin::consensus::encode::deserialize_hex(
        fx["getrawtransaction_verbose"]["result"]["hex"].as_str().unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for key in fx.keys() {
        let c = client(&server.url, key);
        match key.as_str() {
            "estimatesmartfee" => {
                let est = c.estimate_smart_fee(6).await.unwrap();
                assert_eq!((est.feerate, est.blocks), (None, 1));
                assert_eq!(
                    est.errors,
                    vec!["Insufficient data or no feerate found".to_owned()]
                );
            }
            "getbestblockhash" => assert_eq!(c.get_best_block_hash().await.unwrap(), tip),
            "getblock_v2" => {
                let block = c.get_block_verbose(&tip).await.unwrap();
                assert_eq!((block.hash, block.height, block.confirmations), (tip, 105, 1));
                assert_eq!((block.weight, block.tx.len()), (1449, 2));
                let coinbase = &block.tx[0];
                assert_eq!(coinbase.fee, None);
                assert_eq!(coinbase.vout[0].value, Amount::from_sat(5_000_001_410));
                assert_eq!(coinbase.vout[1].script_pubkey.kind, "nulldata");
                assert_eq!(block.tx[1].fee, Some(Amount::from_sat(1410)));
                assert_eq!(block.tx[1].vsize, 141);
                for tx in &block.tx {
                    assert_eq!(tx.transaction().unwrap().compute_wtxid(), tx.wtxid);
                }
            }
            "getblockchaininfo" => {
                let info = c.get_blockchain_info().await.unwrap();
                assert_eq!(
                    (info.network(), info.blocks, info.headers),
                    (Some(Network::Regtest), 105, 105)
                );
                assert_eq!(info.bestblockhash, tip);
                assert_eq!(info.mediantime, 1_795_362_598);
                assert!(!info.initialblockdownload && !info.pruned && info.warnings.is_empty());
            }
            "getblockcount" => assert_eq!(c.get_block_count().await.unwrap(), 105),
            "getblockhash" => assert_eq!(c.get_block_hash(105).await.unwrap(), tip),
            "getblockhash_out_of_range" => {
                let err = c.get_block_hash(1_000_000).await.unwrap_err();
                assert!(err.is_out_of_range() && !err.is_transient(), "{err}");
                assert_eq!(err.rpc_message(), Some("Block height out of range"));
                let text = err.to_string();
                assert!(text.starts_with("getblockhash at http://127.0.0.1:"), "{text}");
                assert!(
                    text.ends_with("node error -8: Block height out of range"),
                    "{text}"
                );
                // Through the backend trait, a height above the tip is simply no block.
                assert_eq!(c.block_hash_at(1_000_000).await.unwrap(), None);
            }
            "getblockheader" => {
                let header = c.get_block_header(&tip).await.unwrap();
                assert_eq!(
                    (header.hash, header.height, header.confirmations, header.n_tx),
                    (tip, 105, 1, 2)
                );
                assert_eq!(header.nextblockhash, None);
                assert_eq!(
                    header.previousblockhash.unwrap().to_string(),
                    "5d45dfac2f2c00d4652ae44d65b719ad25a7249b13762e2b449bde68e1a04a23"
                );
                assert!(header.chainwork.ends_with("d4"));
            }
            "getmempoolentry" => {
                let entry = c.get_mempool_entry(&some_txid).await.unwrap();
                assert_eq!(entry.fees.base, Amount::from_sat(1410));
                assert_eq!(entry.fees.ancestor, Amount::from_sat(1410));
                assert_eq!((entry.vsize, entry.weight, entry.height), (141, 561, 105));
                assert_eq!((entry.ancestorcount, entry.descendantcount), (1, 1));
                assert!(entry.replaceable && entry.depends.is_empty() && entry.spentby.is_empty());
            }
            "getmempoolinfo" => {
                let info = c.get_mempool_info().await.unwrap();
                // 1e-06 BTC/kvB = 0.1 sat/vB = 25 sat/kwu.
                assert_eq!(info.minrelaytxfee, FeeRate::from_sat_per_kwu(25));
                assert_eq!(info.incrementalrelayfee, FeeRate::from_sat_per_kwu(25));
                assert_eq!((info.size, info.bytes, info.total_fee), (0, 0, Amount::ZERO));
                assert!(info.loaded && info.fullrbf);
            }
            "getnetworkinfo" => {
                let info = c.get_network_info().await.unwrap();
                assert_eq!(
                    (info.version, info.protocolversion, info.connections),
                    (300_000, 70016, 0)
                );
                assert_eq!(info.subversion, "/Satoshi:30.0.0/");
                assert_eq!(info.relayfee, FeeRate::from_sat_per_kwu(25));
            }
            "getrawmempool" => assert_eq!(
                c.get_raw_mempool().await.unwrap(),
                vec![
                    Txid::from_str("bbf1b422ee423b0743f7fcef08ed90460ba04c588ac7f5781599528e23256496")
                        .unwrap()
                ]
            ),
            "getrawtransaction_mempool_verbose" => {
                let tx = c.get_raw_transaction_verbose(&some_txid).await.unwrap();
                assert_eq!((tx.blockhash, tx.confirmations, tx.blocktime), (None, 0, None));
                assert_eq!(tx.vout[0].value, Amount::from_sat(10_000_000));
                assert_eq!(tx.transaction().unwrap().compute_txid(), tx.txid);
                assert_eq!(c.tx_status(&some_txid).await.unwrap(), TxStatus::InMempool);
            }
            "getrawtransaction_verbose" => {
                let tx = c.get_raw_transaction_verbose(&some_txid).await.unwrap();
                assert_eq!((tx.blockhash, tx.confirmations), (Some(tip), 1));
                assert_eq!(tx.txid, confirmed_tx.compute_txid());
                assert_eq!(
                    tx.vout[1].script_pubkey.address.as_deref(),
                    Some("bcrt1q45ncl736eqy8cw55dwxhja94typwlcvz8gl5ya")
                );
                assert_eq!(
                    c.tx_status(&some_txid).await.unwrap(),
                    TxStatus::Confirmed {
                        block_hash: tip,
                        confirmations: 1
                    }
                );
            }
            "getrawtransaction_unknown" => {
                let err = c.get_raw_transaction_verbose(&some_txid).await.unwrap_err();
                assert!(err.is_not_found(), "{err}");
                assert_eq!(err.rpc_code(), Some(-5));
                assert_eq!(c.tx_status(&some_txid).await.unwrap(), TxStatus::Unknown);
            }
            "method_not_found" => {
                let err = c.call::<Value>("nosuchmethod", json!([])).await.unwrap_err();
                assert!(err.is_method_not_found(), "{err}");
                assert_eq!(err.rpc_message(), Some("Method not found"));
            }
            "scantxoutset_start" => {
                let scan = c.scan_tx_out_set(&["addr(bcrt1qxyz)".to_owned()]).await.unwrap();
                assert!(scan.success && scan.unspents.is_empty());
                assert_eq!(
                    (scan.height, scan.bestblock, scan.txouts, scan.total_amount),
                    (105, tip, 115, Amount::ZERO)
                );
            }
            "sendrawtransaction_already_confirmed" => {
                let err = c.send_raw_transaction(&confirmed_tx).await.unwrap_err();
                assert!(err.is_already_in_chain(), "{err}");
                assert_eq!(err.rpc_message(), Some("Transaction outputs already in utxo set"));
                assert_eq!(
                    c.broadcast(&confirmed_tx).await.unwrap(),
                    Broadcast::AlreadyInChain(confirmed_tx.compute_txid())
                );
            }
            "testmempoolaccept_reject" => {
                let results = c
                    .test_mempool_accept(std::slice::from_ref(&confirmed_tx))
                    .await
                    .unwrap();
                assert_eq!(results.len(), 1);
                assert!(!results[0].allowed);
                assert_eq!(results[0].reject_reason.as_deref(), Some("non-final"));
                assert_eq!(results[0].reject_details.as_deref(), Some("non-final"));
                assert_eq!(
                    results[0].txid.to_string(),
                    "2b43fb99d4242b1671b36ecae1f665e25c510f186c0673b41f528d405bcfbf77"
                );
            }
            other => panic!("fixture {other} has no check: add one"),
        }
        checked += 1;
    }
    assert_eq!(checked, fx.len());
    assert_eq!(*server.problems.lock().unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn the_estimate_fixture_means_no_fee_rate_through_the_backend() {
    let server = replay(fixtures(), basic("u", "p")).await;
    let backend: &dyn ChainBackend = &client(&server.url, "estimatesmartfee");
    assert_eq!(backend.fee_estimate(6).await.unwrap(), None);
    let tip = client(&server.url, "getblockchaininfo").tip().await.unwrap();
    assert_eq!((tip.height, tip.hash.to_string()), (105, TIP.to_owned()));
}

#[tokio::test]
async fn credentials_from_a_cookie_file_and_refusals_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, "__cookie__:0123abcd\n").unwrap();
    let server = replay(fixtures(), basic("__cookie__", "0123abcd")).await;
    let by_cookie = CoreRpcClient::new(
        &format!("{}/getblockcount", server.url),
        RpcAuth::cookie_file(&cookie),
    );
    assert_eq!(by_cookie.get_block_count().await.unwrap(), 105);

    // bitcoind restarted with a new cookie: refused with 401, and the error says what to check.
    std::fs::write(&cookie, "__cookie__:ffff").unwrap();
    let err = by_cookie.get_block_count().await.unwrap_err();
    assert!(matches!(err, RpcError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("cookie file"), "{err}");

    let wrong = CoreRpcClient::new(
        &format!("{}/getblockcount", server.url),
        RpcAuth::user_pass("u", "hunter2"),
    );
    let err = wrong.get_block_count().await.unwrap_err();
    assert!(!err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"));
    assert!(!format!("{wrong:?}").contains("hunter2"));

    std::fs::remove_file(&cookie).unwrap();
    let err = by_cookie.get_block_count().await.unwrap_err();
    assert!(matches!(err, RpcError::Credentials { .. }), "{err}");
    assert!(err.to_string().contains(".cookie"), "{err}");
}

#[tokio::test]
async fn transport_failures_name_the_url_and_method_and_are_transient() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = CoreRpcClient::new(&format!("http://127.0.0.1:{port}"), RpcAuth::None)
        .with_timeout(Duration::from_secs(5));
    let err = c.get_block_count().await.unwrap_err();
    assert!(
        matches!(err, RpcError::Transport { .. }) && err.is_transient(),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("getblockcount"),
        "{text}"
    );

    // A body that is not JSON-RPC.
    let server = replay(fixtures(), basic("u", "p")).await;
    let err = client(&server.url, "missing")
        .get_block_count()
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Http { status: 404, .. }), "{err}");

    // A node that accepts the connection and never answers: the deadline ends the call.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let c = CoreRpcClient::new(&silent_url, RpcAuth::None).with_timeout(Duration::from_millis(200));
    let err = c.get_best_block_hash().await.unwrap_err();
    assert!(
        matches!(err, RpcError::Timeout { .. }) && err.is_transient(),
        "{err}"
    );
    assert!(err.to_string().contains("getbestblockhash"), "{err}");
    hold.abort();
}
