//! The Bitcoin Core client against every reply captured from a real Core 30 node
//! (`../shared/fixtures/bitcoin-core/core_rpc_samples.json`), errors included, served by a
//! loopback HTTP server with the status codes bitcoind uses.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::collections::HashMap;
use std::convert::Infallible;
use std::str::FromStr;
use std::sync::Arc;

use bitcoin::{Amount, BlockHash, Txid};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth, RpcError};

fn fixtures() -> HashMap<String, Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/core_rpc_samples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Serves fixture `KEY` at `/KEY`: its body, with its recorded HTTP status (200 if none).
async fn serve(fixtures: HashMap<String, Value>) -> String {
    let fixtures = Arc::new(fixtures);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let fixtures = fixtures.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let fixtures = fixtures.clone();
                    async move {
                        let key = req.uri().path().trim_start_matches('/').to_owned();
                        let (status, body) = match fixtures.get(&key) {
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
    format!("http://{addr}")
}

fn client(base: &str, key: &str) -> CoreRpcClient {
    CoreRpcClient::new(
        &format!("{base}/{key}"),
        RpcAuth::UserPass {
            user: "u".into(),
            password: "p".into(),
        },
    )
}

#[tokio::test]
async fn every_captured_reply_parses() {
    let fx = fixtures();
    let keys: Vec<String> = fx.keys().cloned().collect();
    let base = serve(fx.clone()).await;
    let some_txid = Txid::from_str(&"11".repeat(32)).unwrap();
    let tip =
        BlockHash::from_str("5c617e9831f395d13d61e3a512773ed8db894ad4667f1189fd135287d4bbb83a").unwrap();
    let mut checked = Vec::new();
    for key in &keys {
        let c = client(&base, key);
        match key.as_str() {
            "estimatesmartfee" => {
                let est = c.estimate_smart_fee(6).await.unwrap();
                assert_eq!(est.feerate, None);
                assert_eq!(
                    est.errors,
                    vec!["Insufficient data or no feerate found".to_owned()]
                );
            }
            "getbestblockhash" => assert_eq!(c.get_best_block_hash().await.unwrap(), tip),
            "getblock_v2" => {
                let block = c.get_block_verbose(&tip).await.unwrap();
                assert_eq!((block.hash, block.height), (tip, 105));
                assert!(!block.tx.is_empty());
            }
            "getblockchaininfo" => {
                let info = c.get_blockchain_info().await.unwrap();
                assert_eq!(
                    (info.chain.as_str(), info.blocks, info.bestblockhash),
                    ("regtest", 105, tip)
                );
            }
            "getblockcount" => assert_eq!(c.get_block_count().await.unwrap(), 105),
            "getblockhash" => assert_eq!(c.get_block_hash(105).await.unwrap(), tip),
            "getblockhash_out_of_range" => {
                let err = c.get_block_hash(1_000_000).await.unwrap_err();
                assert!(err.is_out_of_range(), "{err}");
                assert_eq!(
                    err.to_string(),
                    "getblockhash: node error -8: Block height out of range"
                );
            }
            "getblockheader" => {
                let header = c.get_block_header(&tip).await.unwrap();
                assert_eq!((header.height, header.confirmations), (105, 1));
            }
            "getmempoolentry" => {
                let entry = c.get_mempool_entry(&some_txid).await.unwrap();
                assert_eq!(entry.fees.base, Amount::from_sat(1410));
                assert!(entry.replaceable);
            }
            "getmempoolinfo" => {
                let info = c.get_mempool_info().await.unwrap();
                assert_eq!(info.minrelaytxfee, Amount::from_sat(100));
            }
            "getnetworkinfo" => assert!(c.get_network_info().await.unwrap().subversion.contains("Satoshi")),
            "getrawmempool" => assert_eq!(c.get_raw_mempool().await.unwrap().len(), 1),
            "getrawtransaction_mempool_verbose" => {
                let tx = c.get_raw_transaction_verbose(&some_txid).await.unwrap();
                assert_eq!((tx.blockhash, tx.confirmations), (None, 0));
            }
            "getrawtransaction_verbose" => {
                let tx = c.get_raw_transaction_verbose(&some_txid).await.unwrap();
                assert_eq!((tx.blockhash, tx.confirmations), (Some(tip), 1));
                let decoded: bitcoin::Transaction =
                    bitcoin::consensus::encode::deserialize_hex(&tx.hex).unwrap();
                assert_eq!(decoded.compute_txid(), tx.txid);
            }
            "getrawtransaction_unknown" => {
                let err = c.get_raw_transaction_verbose(&some_txid).await.unwrap_err();
                assert!(err.is_not_found(), "{err}");
            }
            "method_not_found" => {
                let err = c
                    .call::<Value>("nosuchmethod", serde_json::json!([]))
                    .await
                    .unwrap_err();
                assert!(err.is_method_not_found(), "{err}");
            }
            "scantxoutset_start" => {
                let scan = c.scan_tx_out_set(&["addr(bcrt1qxyz)".to_owned()]).await.unwrap();
                assert!(scan.success && scan.unspents.is_empty() && scan.height == 105);
            }
            "sendrawtransaction_already_confirmed" => {
                let tx: bitcoin::Transaction = bitcoin::consensus::encode::deserialize_hex(
                    fx["getrawtransaction_verbose"]["result"]["hex"].as_str().unwrap(),
                )
                .unwrap();
                let err = c.send_raw_transaction(&tx).await.unwrap_err();
                assert!(err.is_already_in_chain(), "{err}");
            }
            "testmempoolaccept_reject" => {
                let results = c.test_mempool_accept(&[]).await.unwrap();
                assert!(!results[0].allowed);
                assert_eq!(results[0].reject_reason.as_deref(), Some("non-final"));
            }
            other => panic!("fixture {other} has no check: add one"),
        }
        checked.push(key.clone());
    }
    assert_eq!(checked.len(), keys.len());
}

#[tokio::test]
async fn transport_failures_are_clear_and_transient() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = CoreRpcClient::new(&format!("http://127.0.0.1:{port}"), RpcAuth::None)
        .with_timeout(std::time::Duration::from_secs(2));
    let err = c.get_block_count().await.unwrap_err();
    assert!(
        matches!(err, RpcError::Transport { .. }) && err.is_transient(),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")));
    // A body that is not JSON-RPC.
    let base = serve(HashMap::new()).await;
    let err = client(&base, "missing").get_block_count().await.unwrap_err();
    assert!(matches!(err, RpcError::Http { status: 404, .. }), "{err}");
    // The password never appears in Debug output.
    let auth = RpcAuth::UserPass {
        user: "alice".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{auth:?}").contains("hunter2"));
}
