//! simnet through the same Bitcoin Core client and `ChainBackend` the coordinator uses:
//! mining, spending with real signatures, refusals with Core's codes and reasons, full RBF,
//! reorgs, Core 30's JSON shapes (compared field by field with the captured fixtures),
//! persistence, credentials, interval mining, and the `sluice-simnet` binary.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Address, Amount, BlockHash, CompressedPublicKey, FeeRate, Network, OutPoint,
    ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sluice_coordinator::chain::{
    AcceptTest, Broadcast, ChainBackend, CoreRpcClient, RpcAuth, RpcError, TxStatus,
};
use sluice_simnet::{spawn, SimnetHandle, SimnetOptions};

struct Key {
    secret: SecretKey,
    public: CompressedPublicKey,
}

fn key(n: u8) -> Key {
    let secret = SecretKey::from_slice(&[n; 32]).unwrap();
    let public = CompressedPublicKey(secret.public_key(&Secp256k1::new()));
    Key { secret, public }
}

fn address(k: &Key) -> Address {
    Address::p2wpkh(&k.public, Network::Regtest)
}

fn script(n: u8) -> ScriptBuf {
    address(&key(n)).script_pubkey()
}

/// A coin and what it is worth.
#[derive(Clone, Copy)]
struct Coin {
    outpoint: OutPoint,
    value: Amount,
}

/// A P2WPKH spend of `coin` signed by `signer` (who claims `value_signed` as the amount),
/// paying `outputs`.
fn spend_signed(
    signer: &Key,
    coin: Coin,
    value_signed: Amount,
    outputs: &[(ScriptBuf, Amount)],
    lock_time: u32,
) -> Transaction {
    let mut tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_consensus(lock_time),
        input: vec![TxIn {
            previous_output: coin.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: outputs
            .iter()
            .map(|(script_pubkey, value)| TxOut {
                value: *value,
                script_pubkey: script_pubkey.clone(),
            })
            .collect(),
    };
    let spent = ScriptBuf::new_p2wpkh(&signer.public.wpubkey_hash());
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &spent, value_signed, EcdsaSighashType::All)
        .unwrap();
    let signature =
        Secp256k1::new().sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &signer.secret);
    let signature = bitcoin::ecdsa::Signature {
        signature,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[0].witness = Witness::p2wpkh(&signature, &signer.public.0);
    tx
}

/// `signer` spends `coin` to `to`, leaving `fee`.
fn pay(signer: &Key, coin: Coin, to: &ScriptBuf, fee: Amount) -> Transaction {
    spend_signed(signer, coin, coin.value, &[(to.clone(), coin.value - fee)], 0)
}

fn coin_of(tx: &Transaction, vout: u32) -> Coin {
    Coin {
        outpoint: OutPoint::new(tx.compute_txid(), vout),
        value: tx.output[vout as usize].value,
    }
}

struct Net {
    handle: SimnetHandle,
    rpc: CoreRpcClient,
    alice: Key,
    /// Coinbases of blocks 1..=101 paying alice, by height.
    coinbases: Vec<Coin>,
}

impl Net {
    async fn coinbase_at(rpc: &CoreRpcClient, height: u32) -> Coin {
        let block = rpc
            .get_block(&rpc.get_block_hash(height).await.unwrap())
            .await
            .unwrap();
        coin_of(&block.txdata[0], 0)
    }

    async fn start(options: SimnetOptions) -> Net {
        let handle = spawn(options).await.unwrap();
        let rpc = CoreRpcClient::new(&handle.url, RpcAuth::None).with_timeout(Duration::from_secs(30));
        let alice = key(1);
        rpc.generate_to_address(101, &address(&alice)).await.unwrap();
        let mut coinbases = vec![];
        for height in 1..=3 {
            coinbases.push(Net::coinbase_at(&rpc, height).await);
        }
        Net {
            handle,
            rpc,
            alice,
            coinbases,
        }
    }

    /// A mature coinbase (height 1, 2 or 3).
    fn mature(&self, height: usize) -> Coin {
        self.coinbases[height - 1]
    }
}

/// The call's HTTP status and whole body, as a node's raw reply.
async fn raw_call(url: &str, method: &str, params: Value) -> (u16, Value) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let body = json!({ "jsonrpc": "1.0", "id": "fx", "method": method, "params": params }).to_string();
    let request = hyper::Request::post(url)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn mine_spend_see_in_mempool_confirm() {
    let net = Net::start(SimnetOptions::local()).await;
    let rpc = &net.rpc;
    assert_eq!(rpc.get_block_count().await.unwrap(), 101);
    let coin = net.mature(1);
    assert_eq!(coin.value, Amount::from_btc(50.0).unwrap());
    let tx = pay(&net.alice, coin, &script(2), Amount::from_sat(1410));
    let txid = tx.compute_txid();
    assert_eq!(rpc.test_accept(&tx).await.unwrap(), AcceptTest::Allowed);
    assert_eq!(rpc.broadcast(&tx).await.unwrap(), Broadcast::InMempool(txid));
    // Sending it again while in the mempool is success, as on Core.
    assert_eq!(rpc.send_raw_transaction(&tx).await.unwrap(), txid);
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![txid]);
    let entry = rpc.get_mempool_entry(&txid).await.unwrap();
    assert_eq!(
        (entry.fees.base, entry.vsize, entry.height),
        (Amount::from_sat(1410), tx.vsize() as u64, 101)
    );
    assert_eq!(rpc.tx_status(&txid).await.unwrap(), TxStatus::InMempool);

    let mined = rpc.generate_to_address(2, &address(&net.alice)).await.unwrap();
    assert!(rpc.get_raw_mempool().await.unwrap().is_empty());
    assert_eq!(
        rpc.tx_status(&txid).await.unwrap(),
        TxStatus::Confirmed {
            block_hash: mined[0],
            confirmations: 2
        }
    );
    // The block pays subsidy + fee to the miner and holds the transaction.
    let block = rpc.block(&mined[0]).await.unwrap();
    assert_eq!(block.txdata[1].compute_txid(), txid);
    assert_eq!(
        block.txdata[0].output[0].value,
        Amount::from_sat(50 * 100_000_000 + 1410)
    );
    assert_eq!(block.bip34_block_height().unwrap(), 102);
    let tip = rpc.tip().await.unwrap();
    assert_eq!((tip.height, tip.hash), (103, mined[1]));
    assert_eq!(rpc.block_hash_at(103).await.unwrap(), Some(mined[1]));
    assert_eq!(rpc.block_hash_at(104).await.unwrap(), None);
    // Sending it again once confirmed: Core's -27, which the backend reports as done.
    assert!(rpc
        .send_raw_transaction(&tx)
        .await
        .unwrap_err()
        .is_already_in_chain());
    assert_eq!(rpc.broadcast(&tx).await.unwrap(), Broadcast::AlreadyInChain(txid));
    // The confirmed output is found by address, with Core's fields.
    let scan = rpc
        .scan_tx_out_set(&[format!("addr({})", address(&key(2)))])
        .await
        .unwrap();
    assert_eq!(scan.unspents.len(), 1);
    assert_eq!(scan.unspents[0].amount, coin.value - Amount::from_sat(1410));
    assert_eq!(
        (scan.unspents[0].height, scan.unspents[0].confirmations),
        (102, Some(2))
    );
    assert_eq!(
        rpc.fee_estimate(6).await.unwrap(),
        Some(FeeRate::from_sat_per_vb_u32(1))
    );
    net.handle.shutdown().await;
}

#[tokio::test]
async fn double_spends_bad_signatures_and_immature_coinbases_are_refused() {
    let net = Net::start(SimnetOptions::local()).await;
    let rpc = &net.rpc;
    let coin = net.mature(1);
    let first = pay(&net.alice, coin, &script(2), Amount::from_sat(1410));
    rpc.send_raw_transaction(&first).await.unwrap();

    // A double spend of a mempool coin that does not pay more: refused (-26). Core
    // replaces without BIP125 signalling, so the reason is the fee rule (rule 4: the
    // replacement pays for its own relay on top of what it evicts).
    let same_fee = pay(&net.alice, coin, &script(3), Amount::from_sat(1410));
    let err = rpc.send_raw_transaction(&same_fee).await.unwrap_err();
    assert!(err.is_rejected(), "{err}");
    let message = err.rpc_message().unwrap();
    assert!(
        message.starts_with(&format!(
            "insufficient fee, rejecting replacement {}, not enough additional fees to relay",
            same_fee.compute_txid()
        )),
        "{message}"
    );
    assert_eq!(
        rpc.test_accept(&same_fee).await.unwrap(),
        AcceptTest::Rejected {
            reason: message.to_owned()
        }
    );
    // Paying more replaces it, as on Core 30; the replaced one is gone.
    let bumped = pay(&net.alice, coin, &script(3), Amount::from_sat(3000));
    rpc.send_raw_transaction(&bumped).await.unwrap();
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![bumped.compute_txid()]);
    assert_eq!(
        rpc.tx_status(&first.compute_txid()).await.unwrap(),
        TxStatus::Unknown
    );
    // Once mined, spending the coin again is a spend of a spent output (-25).
    rpc.generate_to_address(1, &address(&net.alice)).await.unwrap();
    let err = rpc.send_raw_transaction(&first).await.unwrap_err();
    assert!(err.is_missing_inputs(), "{err}");

    // Someone else's key: the witness does not match the output (script check fails).
    let forged = pay(&key(9), net.mature(2), &script(2), Amount::from_sat(1410));
    let err = rpc.send_raw_transaction(&forged).await.unwrap_err();
    assert!(err.is_rejected(), "{err}");
    assert!(
        err.rpc_message()
            .unwrap()
            .starts_with("mempool-script-verify-flag-failed"),
        "{err}"
    );
    assert!(err.rpc_message().unwrap().contains("input 0 of"), "{err}");
    // The right key, but a signature over the wrong amount: the signature fails.
    let coin2 = net.mature(2);
    let bad_signature = spend_signed(
        &net.alice,
        coin2,
        coin2.value - Amount::from_sat(1),
        &[(script(2), Amount::from_btc(49.0).unwrap())],
        0,
    );
    let err = rpc.send_raw_transaction(&bad_signature).await.unwrap_err();
    assert!(
        err.rpc_message()
            .unwrap()
            .starts_with("mempool-script-verify-flag-failed"),
        "{err}"
    );

    // Block 101's coinbase has 2 confirmations at the next height: premature.
    let young = Net::coinbase_at(rpc, 101).await;
    let err = rpc
        .send_raw_transaction(&pay(&net.alice, young, &script(2), Amount::from_sat(1410)))
        .await
        .unwrap_err();
    assert_eq!(err.rpc_code(), Some(-26));
    assert!(
        err.rpc_message()
            .unwrap()
            .starts_with("bad-txns-premature-spend-of-coinbase"),
        "{err}"
    );
    // More out than in.
    let greedy = spend_signed(
        &net.alice,
        coin2,
        coin2.value,
        &[(script(2), Amount::from_btc(51.0).unwrap())],
        0,
    );
    let err = rpc.send_raw_transaction(&greedy).await.unwrap_err();
    assert!(
        err.rpc_message().unwrap().starts_with("bad-txns-in-belowout"),
        "{err}"
    );
    // A fee above the default maxfeerate (0.10 BTC/kvB): -25, nothing sent.
    let lavish = pay(&net.alice, coin2, &script(2), Amount::from_btc(1.0).unwrap());
    let err = rpc.send_raw_transaction(&lavish).await.unwrap_err();
    assert_eq!(err.rpc_code(), Some(-25));
    assert!(
        err.rpc_message().unwrap().starts_with("Fee exceeds maximum"),
        "{err}"
    );
    // Nothing refused entered the mempool.
    assert!(rpc.get_raw_mempool().await.unwrap().is_empty());
    net.handle.shutdown().await;
}

#[tokio::test]
async fn reorgs_return_transactions_to_the_mempool() {
    let net = Net::start(SimnetOptions::local()).await;
    let rpc = &net.rpc;
    let tx = pay(&net.alice, net.mature(1), &script(2), Amount::from_sat(1410));
    let txid = rpc.send_raw_transaction(&tx).await.unwrap();
    let old = rpc.generate_to_address(2, &address(&net.alice)).await.unwrap();
    assert_eq!(
        rpc.get_raw_transaction_verbose(&txid)
            .await
            .unwrap()
            .confirmations,
        2
    );

    // invalidateblock: blocks 102 and 103 are disconnected, the transaction is unconfirmed.
    rpc.invalidate_block(&old[0]).await.unwrap();
    assert_eq!(rpc.get_block_count().await.unwrap(), 101);
    assert_eq!(
        rpc.get_raw_mempool().await.unwrap(),
        vec![txid],
        "back in the mempool"
    );
    assert_eq!(rpc.tx_status(&txid).await.unwrap(), TxStatus::InMempool);
    // Core still knows the block: -1 confirmations, as for any block off the best chain.
    assert_eq!(rpc.get_block_header(&old[0]).await.unwrap().confirmations, -1);

    // A longer chain elsewhere; the transaction confirms again in its first block.
    let new = rpc.generate_to_address(3, &address(&net.alice)).await.unwrap();
    assert_eq!(
        rpc.tx_status(&txid).await.unwrap(),
        TxStatus::Confirmed {
            block_hash: new[0],
            confirmations: 3
        }
    );
    // reconsiderblock: the old branch is valid again but shorter, so it stays a fork.
    rpc.reconsider_block(&old[0]).await.unwrap();
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), new[2]);
    let tips: Value = rpc.call("getchaintips", json!([])).await.unwrap();
    assert_eq!(
        tips[0],
        json!({"height": 104, "hash": new[2], "branchlen": 0, "status": "active"})
    );
    assert_eq!(
        tips[1],
        json!({"height": 103, "hash": old[1], "branchlen": 2, "status": "valid-fork"})
    );
    // Invalidate the new branch: simnet goes back to the old one, which is now the best.
    rpc.invalidate_block(&new[0]).await.unwrap();
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), old[1]);
    assert_eq!(
        rpc.tx_status(&txid).await.unwrap(),
        TxStatus::Confirmed {
            block_hash: old[0],
            confirmations: 2
        }
    );

    // simnet_reorg 2: two blocks replaced by three coinbase-only blocks.
    let reorg: Value = rpc.call("simnet_reorg", json!([2])).await.unwrap();
    assert_eq!(reorg["disconnected"], json!([old[1], old[0]]));
    assert_eq!(reorg["connected"].as_array().unwrap().len(), 3);
    assert_eq!(rpc.get_block_count().await.unwrap(), 104);
    assert_eq!(
        rpc.get_raw_mempool().await.unwrap(),
        vec![txid],
        "reorged out again"
    );
    assert_eq!(rpc.tx_status(&txid).await.unwrap(), TxStatus::InMempool);
    let err = rpc
        .call::<Value>("simnet_reorg", json!([1000]))
        .await
        .unwrap_err();
    assert!(err.is_out_of_range(), "{err}");
    net.handle.shutdown().await;
}

/// Keys and value types of a reply, for comparing shapes with Core's.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
    }
}

/// Simnet answers as the Core the tests run (v31.99, cluster mempool,
/// `tests/tests/simnet_agrees_with_core.rs`); the fixtures were captured from Core 30.
/// These are the fields between the two: Core 31 added `getblock`'s `coinbase_tx`, the
/// mempool entries' chunk (`chunkweight`, `fees.chunk`) and `getmempoolinfo`'s cluster
/// limits and `optimal`, and dropped `bip125-replaceable` and `fullrbf`.
fn as_core_30(key: &str, result: &mut Value) {
    let Some(fields) = result.as_object_mut() else {
        return;
    };
    match key {
        "getblock_v2" => {
            fields.remove("coinbase_tx");
        }
        "getmempoolentry" => {
            fields.remove("chunkweight");
            if let Some(fees) = fields.get_mut("fees").and_then(Value::as_object_mut) {
                fees.remove("chunk");
            }
            fields.insert("bip125-replaceable".into(), json!(true));
        }
        "getmempoolinfo" => {
            for gone in ["limitclustercount", "limitclustersize", "optimal"] {
                fields.remove(gone);
            }
            fields.insert("fullrbf".into(), json!(true));
        }
        _ => {}
    }
}

fn fixtures() -> BTreeMap<String, Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/core_rpc_samples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture node's state rebuilt on simnet: at the tip, a block with one spend of a
/// coinbase; in the mempool, a spend of that spend's change. Then every captured reply is
/// compared with simnet's answer to the same call: same fields, same JSON types; errors
/// byte for byte (but the id) with the same HTTP status.
#[tokio::test]
async fn answers_have_the_shapes_core_30_gives() {
    let fx = fixtures();
    let mut options = SimnetOptions::local();
    options.fee_estimate = None;
    let net = Net::start(options).await;
    let rpc = &net.rpc;
    let url = net.handle.url.clone();
    let alice = &net.alice;
    let coin = net.mature(1);
    let confirmed = spend_signed(
        alice,
        coin,
        coin.value,
        &[
            (script(2), Amount::from_btc(0.3).unwrap()),
            (
                address(alice).script_pubkey(),
                coin.value - Amount::from_btc(0.3).unwrap() - Amount::from_sat(1410),
            ),
        ],
        101,
    );
    rpc.send_raw_transaction(&confirmed).await.unwrap();
    let tip = rpc.generate_to_address(1, &address(alice)).await.unwrap()[0];
    let change = coin_of(&confirmed, 1);
    let pending = spend_signed(
        alice,
        change,
        change.value,
        &[
            (script(3), Amount::from_btc(0.1).unwrap()),
            (
                address(alice).script_pubkey(),
                change.value - Amount::from_btc(0.1).unwrap() - Amount::from_sat(1410),
            ),
        ],
        102,
    );
    rpc.send_raw_transaction(&pending).await.unwrap();
    // Not final for a long time: what `testmempoolaccept_reject` captured.
    let non_final = spend_signed(
        alice,
        net.mature(2),
        net.mature(2).value,
        &[(script(2), Amount::from_btc(49.0).unwrap())],
        10_000,
    );
    let unknown = "11".repeat(32);
    let nobody = format!("addr({})", address(&key(7)));

    let mut compared = 0;
    for (key, captured) in &fx {
        let (method, params) = match key.as_str() {
            "estimatesmartfee" => ("estimatesmartfee", json!([1])),
            "getbestblockhash" => ("getbestblockhash", json!([])),
            "getblock_v2" => ("getblock", json!([tip, 2])),
            "getblockchaininfo" => ("getblockchaininfo", json!([])),
            "getblockcount" => ("getblockcount", json!([])),
            "getblockhash" => ("getblockhash", json!([102])),
            "getblockhash_out_of_range" => ("getblockhash", json!([1_000_000])),
            "getblockheader" => ("getblockheader", json!([tip])),
            "getmempoolentry" => ("getmempoolentry", json!([pending.compute_txid()])),
            "getmempoolinfo" => ("getmempoolinfo", json!([])),
            "getnetworkinfo" => ("getnetworkinfo", json!([])),
            "getrawmempool" => ("getrawmempool", json!([])),
            "getrawtransaction_mempool_verbose" => {
                ("getrawtransaction", json!([pending.compute_txid(), true]))
            }
            "getrawtransaction_unknown" => ("getrawtransaction", json!([unknown, true])),
            "getrawtransaction_verbose" => ("getrawtransaction", json!([confirmed.compute_txid(), true])),
            "method_not_found" => ("nosuchmethod", json!([])),
            "scantxoutset_start" => ("scantxoutset", json!(["start", [nobody]])),
            "sendrawtransaction_already_confirmed" => {
                ("sendrawtransaction", json!([serialize_hex(&confirmed)]))
            }
            "testmempoolaccept_reject" => ("testmempoolaccept", json!([[serialize_hex(&non_final)]])),
            other => panic!("fixture {other} has no simnet counterpart: add one"),
        };
        let (status, body) = raw_call(&url, method, params).await;
        match captured.get("http_status") {
            Some(captured_status) => {
                assert_eq!(u64::from(status), captured_status.as_u64().unwrap(), "{key}");
                assert_eq!(body, captured["body"], "{key}: the whole error reply");
            }
            None => {
                assert_eq!(status, 200, "{key}: {body}");
                let mut body = body;
                as_core_30(key, &mut body["result"]);
                assert_eq!(shape(&body), shape(captured), "{key}:\n{body:#}");
            }
        }
        compared += 1;
    }
    assert_eq!(compared, fx.len());
    // Spot checks of values that must agree, not just their shape.
    let block: Value = rpc.call("getblock", json!([tip, 2])).await.unwrap();
    assert_eq!(block["tx"][1]["fee"], json!(0.0000141));
    assert_eq!(block["bits"], "207fffff");
    assert_eq!(block["difficulty"], fx["getblock_v2"]["result"]["difficulty"]);
    assert_eq!(block["target"], fx["getblock_v2"]["result"]["target"]);
    assert_eq!(block["chainwork"], chainwork_at(102));
    assert_eq!(block["tx"][0]["vout"][1]["scriptPubKey"]["type"], "nulldata");
    assert_eq!(block["tx"][0]["vin"][0]["coinbase"].as_str().unwrap(), "016600");
    assert_eq!(block["tx"][0]["locktime"], 101);
    net.handle.shutdown().await;
}

/// Core's chainwork for a regtest chain of `height` blocks above genesis.
fn chainwork_at(height: u128) -> Value {
    json!(format!("{:064x}", 2 * (height + 1)))
}

#[tokio::test]
async fn persists_across_restarts_and_replays_with_full_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SimnetOptions::local();
    options.data_dir = Some(dir.path().to_owned());
    let net = Net::start(options.clone()).await;
    let rpc = &net.rpc;
    let mined_tx = pay(&net.alice, net.mature(1), &script(2), Amount::from_sat(1410));
    rpc.send_raw_transaction(&mined_tx).await.unwrap();
    let branch = rpc.generate_to_address(2, &address(&net.alice)).await.unwrap();
    rpc.invalidate_block(&branch[1]).await.unwrap();
    rpc.generate_to_address(2, &address(&net.alice)).await.unwrap();
    let pending = pay(&net.alice, net.mature(2), &script(3), Amount::from_sat(1410));
    rpc.send_raw_transaction(&pending).await.unwrap();
    let tip = rpc.get_best_block_hash().await.unwrap();
    let tips: Value = rpc.call("getchaintips", json!([])).await.unwrap();
    net.handle.shutdown().await;

    let again = spawn(options).await.unwrap();
    let rpc = CoreRpcClient::new(&again.url, RpcAuth::None);
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), tip);
    assert_eq!(rpc.get_block_count().await.unwrap(), 104);
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![pending.compute_txid()]);
    assert_eq!(
        rpc.call::<Value>("getchaintips", json!([])).await.unwrap(),
        tips,
        "the invalidated branch stays invalid"
    );
    assert!(matches!(
        rpc.tx_status(&mined_tx.compute_txid()).await.unwrap(),
        TxStatus::Confirmed { .. }
    ));
    again.shutdown().await;
}

#[tokio::test]
async fn credentials_are_required_when_configured() {
    let mut options = SimnetOptions::local();
    options.credentials = Some(("sluice".to_owned(), "s3cret".into()));
    let handle = spawn(options).await.unwrap();
    let good = CoreRpcClient::new(&handle.url, RpcAuth::user_pass("sluice", "s3cret"));
    assert_eq!(good.get_block_count().await.unwrap(), 0);
    let bad = CoreRpcClient::new(&handle.url, RpcAuth::user_pass("sluice", "guess"));
    let err = bad.get_block_count().await.unwrap_err();
    assert!(matches!(err, RpcError::Unauthorized { status: 401, .. }), "{err}");
    let none = CoreRpcClient::new(&handle.url, RpcAuth::None);
    assert!(matches!(
        none.get_block_count().await.unwrap_err(),
        RpcError::Unauthorized { .. }
    ));
    handle.shutdown().await;
}

#[tokio::test]
async fn blocks_come_on_an_interval_and_batches_are_answered() {
    let mut options = SimnetOptions::local();
    options.block_interval = Some(Duration::from_millis(20));
    let handle = spawn(options).await.unwrap();
    let rpc = CoreRpcClient::new(&handle.url, RpcAuth::None);
    let mut height = 0;
    for _ in 0..500 {
        height = rpc.get_block_count().await.unwrap();
        if height >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(height >= 2, "no blocks after 5 s");
    // A JSON-RPC batch: one reply per call, in order, HTTP 200.
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let batch = json!([
        {"jsonrpc": "1.0", "id": 1, "method": "getblockhash", "params": [0]},
        {"jsonrpc": "1.0", "id": 2, "method": "nosuchmethod", "params": []},
    ]);
    let response = client
        .request(
            hyper::Request::post(&handle.url)
                .body(Full::new(Bytes::from(batch.to_string())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let replies: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        replies[0]["result"],
        bitcoin::blockdata::constants::genesis_block(Network::Regtest)
            .block_hash()
            .to_string()
    );
    assert_eq!(replies[1]["error"]["code"], -32601);
    handle.shutdown().await;
}

#[tokio::test]
async fn the_binary_prints_its_url_and_stops_on_request() {
    /// Kills the process if the test fails before it stopped.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_sluice-simnet"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("simnet listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let rpc = CoreRpcClient::new(&url, RpcAuth::None);
    let hashes: Vec<BlockHash> = rpc.generate_to_address(3, &address(&key(1))).await.unwrap();
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), hashes[2]);
    let _: Value = rpc.call("stop", json!([])).await.unwrap();
    let mut status = None;
    for _ in 0..500 {
        status = child.0.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = status.expect("sluice-simnet did not stop within 5 s");
    assert!(status.success(), "{status}");
}

/// `prioritisetransaction` as Core does it: a large negative delta keeps a transaction in
/// the mempool but out of blocks, and the replacement rules compare modified fees; a
/// positive delta can make a lower-paying replacement acceptable. The dummy must be 0.
#[tokio::test]
async fn prioritised_transactions_are_skipped_by_blocks_and_replaced_on_modified_fees() {
    let net = Net::start(SimnetOptions::local()).await;
    let rpc = &net.rpc;
    let coin = net.mature(1);
    let stuck = pay(&net.alice, coin, &script(2), Amount::from_sat(5000));
    let txid = rpc.send_raw_transaction(&stuck).await.unwrap();
    let ok: bool = rpc
        .call(
            "prioritisetransaction",
            json!([txid.to_string(), 0, -100_000_000]),
        )
        .await
        .unwrap();
    assert!(ok);
    let entry: Value = rpc
        .call("getmempoolentry", json!([txid.to_string()]))
        .await
        .unwrap();
    // As Core 31 reports it (checked with bitcoin-cli on the pinned node).
    assert_eq!(entry["fees"]["base"], json!(0.00005));
    assert_eq!(entry["fees"]["modified"], json!(-0.99995));
    assert_eq!(entry["fees"]["ancestor"], json!(-0.99995));
    rpc.generate_to_address(2, &address(&net.alice)).await.unwrap();
    assert_eq!(
        rpc.get_raw_mempool().await.unwrap(),
        vec![txid],
        "left out of blocks"
    );

    // A replacement paying less than the stuck one's real fee is enough: its modified fee
    // is what counts (Core 31 accepts the same, checked by hand with bitcoin-cli).
    let replacement = pay(&net.alice, coin, &script(3), Amount::from_sat(2000));
    let replaced = rpc.send_raw_transaction(&replacement).await.unwrap();
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![replaced]);
    rpc.generate_to_address(1, &address(&net.alice)).await.unwrap();
    assert!(rpc.get_raw_mempool().await.unwrap().is_empty());

    let err = rpc
        .call::<bool>("prioritisetransaction", json!([txid.to_string(), 1, 100]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dummy argument"), "{err}");
}
