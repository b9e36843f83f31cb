//! simnet against Bitcoin Core: the same sequence of transactions, built the same way
//! from each chain's own coins, is replayed through simnet and through a real
//! `bitcoind -regtest`, and every answer is compared: accepted or not, the RPC error
//! code, the reject reason and its details (hashes masked, since each chain has its own
//! coinbases), `testmempoolaccept`'s verdict, and `estimatesmartfee`'s reply.
//!
//! Core is the reference: a difference is fixed in simnet (docs/testing.md lists them).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::OP_PUSHNUM_1;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{Keypair, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};
use serde_json::{json, Value};
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth, RpcError};
use sluice_e2e::bitcoind::start_bitcoind;
use sluice_simnet::{spawn, SimnetOptions};

/// What a chain answered to one call, comparable across chains.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Ok(Value),
    Error { code: i64, message: String },
}

/// Replaces every run of 64 hex digits (txids, wtxids, block hashes) by `<hash>`: each
/// chain has its own coinbases, so its own txids.
fn mask_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() == 64 {
            out.push_str("<hash>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

fn masked(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(mask_hashes(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, masked(v))).collect()),
        other => other,
    }
}

async fn ask(chain: &CoreRpcClient, method: &str, params: Value) -> Answer {
    match chain.call::<Value>(method, params).await {
        Ok(value) => Answer::Ok(masked(value)),
        Err(RpcError::Rpc { code, message, .. }) => Answer::Error {
            code,
            message: mask_hashes(&message),
        },
        Err(e) => panic!("{method}: not a JSON-RPC answer: {e}"),
    }
}

/// The shape of a reply: its keys (recursively) and the JSON type of each value, for
/// replies whose values differ between chains by nature (times, hashes, sizes on disk).
fn shape(value: &Value) -> Value {
    match value {
        // Keyed by txid (`getrawmempool true`): one entry stands for all.
        Value::Object(map) if map.keys().all(|k| mask_hashes(k) == "<hash>") => Value::Object(
            map.values()
                .take(1)
                .map(|v| ("<hash>".to_owned(), shape(v)))
                .collect(),
        ),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
    }
}

/// A key that owns coinbases and signs spends of them (P2WPKH, low-R signatures so every
/// transaction has the same size on both chains).
struct Spender {
    secp: Secp256k1<bitcoin::secp256k1::All>,
    key: Keypair,
}

impl Spender {
    fn new() -> Spender {
        let secp = Secp256k1::new();
        let key = Keypair::from_secret_key(&secp, &SecretKey::from_slice(&[0x42; 32]).unwrap());
        Spender { secp, key }
    }

    fn address(&self) -> Address {
        Address::p2wpkh(&CompressedPublicKey(self.key.public_key()), Network::Regtest)
    }

    fn script(&self) -> ScriptBuf {
        self.address().script_pubkey()
    }

    /// Spends `coins` (each P2WPKH of this key) to `outputs`.
    fn spend(&self, coins: &[(OutPoint, Amount)], outputs: Vec<TxOut>) -> Transaction {
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: coins
                .iter()
                .map(|(outpoint, _)| TxIn {
                    previous_output: *outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let script = self.script();
        for (index, (_, value)) in coins.iter().enumerate() {
            let sighash = SighashCache::new(&tx)
                .p2wpkh_signature_hash(index, &script, *value, EcdsaSighashType::All)
                .unwrap();
            let signature = bitcoin::ecdsa::Signature::sighash_all(
                self.secp
                    .sign_ecdsa_low_r(&Message::from(sighash), &self.key.secret_key()),
            );
            tx.input[index].witness = Witness::p2wpkh(&signature, &self.key.public_key());
        }
        tx
    }

    /// Spends one coin back to this key, leaving `fee`.
    fn pay_self(&self, coin: (OutPoint, Amount), fee: Amount) -> Transaction {
        self.spend(
            &[coin],
            vec![TxOut {
                value: coin.1 - fee,
                script_pubkey: self.script(),
            }],
        )
    }
}

/// The coinbase of the block at `hash`, as a coin.
async fn coinbase(chain: &CoreRpcClient, hash: &bitcoin::BlockHash) -> (OutPoint, Amount) {
    let block = chain.get_block(hash).await.unwrap();
    let tx = &block.txdata[0];
    (OutPoint::new(tx.compute_txid(), 0), tx.output[0].value)
}

/// One step of the replay and what the chain said.
type Transcript = Vec<(String, Answer)>;

struct Replay<'a> {
    chain: &'a CoreRpcClient,
    transcript: Transcript,
}

impl Replay<'_> {
    async fn record(&mut self, what: &str, method: &str, params: Value) {
        let answer = ask(self.chain, method, params).await;
        self.transcript.push((format!("{what}: {method}"), answer));
    }

    /// Records only the shape of a successful reply (errors in full).
    async fn record_shape(&mut self, what: &str, method: &str, params: Value) {
        let answer = match ask(self.chain, method, params).await {
            Answer::Ok(mut value) => {
                // A development build of Core warns that it is a pre-release; a release
                // build, like simnet, has none.
                if let Some(warnings) = value.get_mut("warnings") {
                    *warnings = json!([]);
                }
                Answer::Ok(shape(&value))
            }
            error => error,
        };
        self.transcript
            .push((format!("{what}: {method} (shape)"), answer));
    }

    /// Records a reply in full but for the entry time (each chain has its own clock).
    async fn record_but_time(&mut self, what: &str, method: &str, params: Value) {
        let answer = match ask(self.chain, method, params).await {
            Answer::Ok(mut value) => {
                if let Some(time) = value.get_mut("time") {
                    *time = json!(0);
                }
                Answer::Ok(value)
            }
            error => error,
        };
        self.transcript
            .push((format!("{what}: {method} (but time)"), answer));
    }

    /// `testmempoolaccept`, then `sendrawtransaction`.
    async fn offer(&mut self, what: &str, tx: &Transaction) {
        let hex = serialize_hex(tx);
        self.record(what, "testmempoolaccept", json!([[hex]])).await;
        self.record(what, "sendrawtransaction", json!([hex])).await;
    }
}

/// Every case, in order, on one chain. Ends with the transcript.
async fn replay(chain: &CoreRpcClient) -> Transcript {
    let spender = Spender::new();
    let mut r = Replay {
        chain,
        transcript: Vec::new(),
    };
    r.record("fresh chain, empty mempool", "estimatesmartfee", json!([6]))
        .await;
    // 110 blocks: the coinbases of heights 1..=11 can be spent in block 111.
    let hashes = chain.generate_to_address(110, &spender.address()).await.unwrap();
    let [cb1, cb2, cb3] = [
        coinbase(chain, &hashes[0]).await,
        coinbase(chain, &hashes[1]).await,
        coinbase(chain, &hashes[2]).await,
    ];
    let immature = coinbase(chain, &hashes[109]).await;
    r.record("mined, empty mempool", "estimatesmartfee", json!([6]))
        .await;
    r.record("conf_target out of range", "estimatesmartfee", json!([0]))
        .await;

    r.record("malformed hex", "sendrawtransaction", json!(["00zz"]))
        .await;
    r.record(
        "hex that is no transaction",
        "sendrawtransaction",
        json!(["0200"]),
    )
    .await;
    r.record("malformed hex", "testmempoolaccept", json!([["00zz"]]))
        .await;

    let original = spender.pay_self(cb1, Amount::from_sat(10_000));
    r.offer("valid spend", &original).await;
    r.record(
        "the same transaction again (in the mempool)",
        "sendrawtransaction",
        json!([serialize_hex(&original)]),
    )
    .await;
    let lower = spender.pay_self(cb1, Amount::from_sat(5_000));
    r.offer("double spend paying less fee", &lower).await;
    // Higher fee rate, but the extra 5 sat do not pay the replacement's own relay.
    let thin = spender.pay_self(cb1, Amount::from_sat(10_005));
    r.offer("replacement without enough additional fee", &thin).await;
    let replacement = spender.pay_self(cb1, Amount::from_sat(20_000));
    r.offer("replacement paying enough", &replacement).await;
    // More fee in total, at a lower feerate (ten more outputs): the mempool would be
    // worse to mine.
    let mut outputs: Vec<TxOut> = (0..10)
        .map(|_| TxOut {
            value: Amount::from_sat(1_000_000),
            script_pubkey: spender.script(),
        })
        .collect();
    outputs.push(TxOut {
        value: cb1.1 - Amount::from_sat(10_000_000 + 30_000),
        script_pubkey: spender.script(),
    });
    r.offer(
        "replacement paying more at a lower feerate",
        &spender.spend(&[cb1], outputs),
    )
    .await;
    r.record(
        "the replaced transaction",
        "getmempoolentry",
        json!([original.compute_txid()]),
    )
    .await;

    let missing = (OutPoint::new(Txid::from_byte_array([7; 32]), 0), Amount::ONE_BTC);
    r.offer(
        "spend of a missing input",
        &spender.pay_self(missing, Amount::from_sat(10_000)),
    )
    .await;

    let pay = |value: Amount, script_pubkey: ScriptBuf| TxOut { value, script_pubkey };
    let rest = |coin: (OutPoint, Amount), paid: Amount| coin.1 - paid - Amount::from_sat(10_000);
    r.offer(
        "dust output",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::from_sat(100), spender.script()),
                pay(rest(cb2, Amount::from_sat(100)), spender.script()),
            ],
        ),
    )
    .await;
    let bare_true = Builder::new().push_opcode(OP_PUSHNUM_1).into_script();
    r.offer(
        "non-standard output script",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::from_sat(10_000), bare_true),
                pay(rest(cb2, Amount::from_sat(10_000)), spender.script()),
            ],
        ),
    )
    .await;
    let op_return = |data: &[u8]| {
        let mut script = ScriptBuf::new();
        script.push_opcode(bitcoin::opcodes::all::OP_RETURN);
        for chunk in data.chunks(520) {
            script.push_slice(<&bitcoin::script::PushBytes>::try_from(chunk).unwrap());
        }
        script
    };
    r.offer(
        "OP_RETURN carrying value",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::from_sat(1_000), op_return(b"burn")),
                pay(rest(cb2, Amount::from_sat(1_000)), spender.script()),
            ],
        ),
    )
    .await;
    r.offer(
        "OP_RETURN of 100 001 bytes",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::ZERO, op_return(&[0x55; 100_001])),
                pay(rest(cb2, Amount::ZERO), spender.script()),
            ],
        ),
    )
    .await;
    r.offer(
        "below the minimum relay fee",
        &spender.pay_self(cb2, Amount::ZERO),
    )
    .await;
    let expensive = spender.pay_self(cb2, Amount::from_sat(50_000_000));
    r.offer("fee above maxfeerate", &expensive).await;
    r.record(
        "fee above the default, maxfeerate 0 (no cap)",
        "sendrawtransaction",
        json!([serialize_hex(&expensive), 0]),
    )
    .await;
    r.offer(
        "coinbase spend before maturity",
        &spender.pay_self(immature, Amount::from_sat(10_000)),
    )
    .await;
    // A chain of two: the child of an unconfirmed parent.
    let parent = spender.pay_self(cb3, Amount::from_sat(10_000));
    let child = spender.pay_self(
        (OutPoint::new(parent.compute_txid(), 0), parent.output[0].value),
        Amount::from_sat(10_000),
    );
    r.record(
        "parent and child in one package",
        "testmempoolaccept",
        json!([[serialize_hex(&parent), serialize_hex(&child)]]),
    )
    .await;
    r.offer("parent", &parent).await;
    r.offer("child", &child).await;
    r.record_but_time(
        "a child in the mempool",
        "getmempoolentry",
        json!([child.compute_txid()]),
    )
    .await;
    r.record_but_time(
        "a parent in the mempool",
        "getmempoolentry",
        json!([parent.compute_txid()]),
    )
    .await;
    r.record_shape("parent and child", "getrawmempool", json!([true]))
        .await;
    r.record_shape("parent and child", "getmempoolinfo", json!([]))
        .await;
    r.record_shape(
        "an output spent in the mempool",
        "gettxout",
        json!([cb3.0.txid, 0]),
    )
    .await;
    r.record_shape("a mempool output", "gettxout", json!([child.compute_txid(), 0]))
        .await;
    r.record(
        "a mempool transaction",
        "getrawtransaction",
        json!([parent.compute_txid()]),
    )
    .await;
    r.record_shape(
        "a mempool transaction",
        "getrawtransaction",
        json!([parent.compute_txid(), 1]),
    )
    .await;
    r.record(
        "an unknown transaction",
        "getrawtransaction",
        json!([missing.0.txid]),
    )
    .await;

    // Replacing a parent evicts its child too; a replacement may not spend what it replaces.
    let cb5 = coinbase(chain, &hashes[4]).await;
    let parent2 = spender.pay_self(cb5, Amount::from_sat(10_000));
    let child2 = spender.pay_self(
        (OutPoint::new(parent2.compute_txid(), 0), parent2.output[0].value),
        Amount::from_sat(10_000),
    );
    r.offer("second parent", &parent2).await;
    r.offer("second child", &child2).await;
    let spends_its_conflict = spender.spend(
        &[
            cb5,
            (OutPoint::new(parent2.compute_txid(), 0), parent2.output[0].value),
        ],
        vec![TxOut {
            value: cb5.1 + parent2.output[0].value - Amount::from_sat(50_000),
            script_pubkey: spender.script(),
        }],
    );
    r.offer(
        "replacement spending the transaction it replaces",
        &spends_its_conflict,
    )
    .await;
    r.offer(
        "replacement paying for parent and child",
        &spender.pay_self(cb5, Amount::from_sat(30_000)),
    )
    .await;
    r.record(
        "the evicted child",
        "getmempoolentry",
        json!([child2.compute_txid()]),
    )
    .await;

    // A chain of unconfirmed spends grows one cluster: Core allows 64 transactions.
    let mut coin = coinbase(chain, &hashes[3]).await;
    for link in 1..=65 {
        let tx = spender.pay_self(coin, Amount::from_sat(1_000));
        let answer = ask(chain, "sendrawtransaction", json!([serialize_hex(&tx)])).await;
        if link == 65 || matches!(answer, Answer::Error { .. }) {
            r.transcript.push((
                format!("link {link} of an unconfirmed chain: sendrawtransaction"),
                answer,
            ));
        }
        coin = (OutPoint::new(tx.compute_txid(), 0), tx.output[0].value);
    }

    chain.generate_to_address(1, &spender.address()).await.unwrap();
    r.offer("already in the chain, resent", &replacement).await;
    r.offer("the replaced original, its input now spent in a block", &original)
        .await;
    r.record("after a block", "estimatesmartfee", json!([6])).await;
    let tip = chain.get_best_block_hash().await.unwrap();
    r.record(
        "a confirmed transaction",
        "getrawtransaction",
        json!([parent.compute_txid()]),
    )
    .await;
    r.record(
        "a confirmed transaction, its block named",
        "getrawtransaction",
        json!([parent.compute_txid(), 0, tip]),
    )
    .await;
    r.record_shape(
        "a confirmed transaction, its block named",
        "getrawtransaction",
        json!([parent.compute_txid(), 1, tip]),
    )
    .await;
    r.record(
        "a transaction not in the block named",
        "getrawtransaction",
        json!([missing.0.txid, 0, tip]),
    )
    .await;
    r.record_shape("a confirmed output", "gettxout", json!([child.compute_txid(), 0]))
        .await;
    r.record_shape("the tip", "getblock", json!([tip, 1])).await;
    r.record_shape("the tip", "getblock", json!([tip, 2])).await;
    r.record_shape("the tip", "getblockheader", json!([tip])).await;
    r.record_shape("after a block", "getblockchaininfo", json!([]))
        .await;
    r.record_shape("after a block", "getnetworkinfo", json!([])).await;
    r.record_shape("after a block", "getchaintips", json!([])).await;
    r.record("above the tip", "getblockhash", json!([100_000])).await;
    r.record("an unknown block", "getblock", json!([missing.0.txid]))
        .await;
    r.transcript
}

/// The same replay on simnet (answering `estimatesmartfee` as a fresh node does) and on
/// Core; every answer must agree.
#[test]
fn simnet_answers_every_transaction_as_bitcoin_core_does() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let simnet = spawn(SimnetOptions {
            fee_estimate: None,
            ..SimnetOptions::local()
        })
        .await
        .unwrap();
        let on_simnet = replay(&CoreRpcClient::new(&simnet.url, RpcAuth::None)).await;
        // simnet answers as a node with -txindex (getrawtransaction finds confirmed
        // transactions); the coordinator needs no index, see docs/testing.md.
        let core = start_bitcoind(&["-txindex=1"]).await;
        let on_core = replay(&core.client()).await;
        for (what, answer) in &on_core {
            eprintln!("{what}\n  {answer:?}");
        }
        assert_eq!(on_simnet.len(), on_core.len());
        let differences: Vec<String> = on_simnet
            .iter()
            .zip(&on_core)
            .filter(|(s, c)| s != c)
            .map(|((what, s), (_, c))| format!("{what}\n  simnet: {s:?}\n  Core:   {c:?}"))
            .collect();
        assert!(
            differences.is_empty(),
            "simnet and Bitcoin Core disagree on {} of {} calls:\n{}",
            differences.len(),
            on_core.len(),
            differences.join("\n")
        );
    });
}
