//! Replaying the same calls through two chains that speak Bitcoin Core's JSON-RPC
//! (simnet and a real `bitcoind -regtest`) and recording answers that compare across them:
//! hashes masked (each chain has its own coinbases), replies whose values differ by nature
//! reduced to their shape. Used by `tests/tests/simnet_agrees_with_core.rs`; a failure to
//! talk to a chain panics, as test helpers do.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::secp256k1::{Keypair, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Witness,
};
use serde_json::{json, Value};
use sluice_coordinator::chain::{CoreRpcClient, RpcError};

/// What a chain answered to one call, comparable across chains.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ok(Value),
    Error { code: i64, message: String },
}

/// Replaces every run of 64 hex digits (txids, wtxids, block hashes) by `<hash>`: each
/// chain has its own coinbases, so its own txids.
pub fn mask_hashes(text: &str) -> String {
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

pub async fn ask(chain: &CoreRpcClient, method: &str, params: Value) -> Answer {
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
pub fn shape(value: &Value) -> Value {
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
#[derive(Debug)]
pub struct Spender {
    secp: Secp256k1<bitcoin::secp256k1::All>,
    key: Keypair,
}

impl Spender {
    /// The same key on every chain (so the same scripts and sizes).
    pub fn fixed() -> Spender {
        let secp = Secp256k1::new();
        let key = Keypair::from_secret_key(
            &secp,
            &SecretKey::from_slice(&[0x42; 32]).expect("a valid secret key"),
        );
        Spender { secp, key }
    }

    pub fn address(&self) -> Address {
        Address::p2wpkh(&CompressedPublicKey(self.key.public_key()), Network::Regtest)
    }

    pub fn script(&self) -> ScriptBuf {
        self.address().script_pubkey()
    }

    /// Spends `coins` (each P2WPKH of this key) to `outputs`.
    pub fn spend(&self, coins: &[(OutPoint, Amount)], outputs: Vec<TxOut>) -> Transaction {
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
                .expect("every input has its coin");
            let signature = bitcoin::ecdsa::Signature::sighash_all(
                self.secp
                    .sign_ecdsa_low_r(&Message::from(sighash), &self.key.secret_key()),
            );
            tx.input[index].witness = Witness::p2wpkh(&signature, &self.key.public_key());
        }
        tx
    }

    /// Spends one coin back to this key, leaving `fee`.
    pub fn pay_self(&self, coin: (OutPoint, Amount), fee: Amount) -> Transaction {
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
pub async fn coinbase(chain: &CoreRpcClient, hash: &bitcoin::BlockHash) -> (OutPoint, Amount) {
    let block = chain
        .get_block(hash)
        .await
        .unwrap_or_else(|e| panic!("reading block {hash}: {e}"));
    let tx = &block.txdata[0];
    (OutPoint::new(tx.compute_txid(), 0), tx.output[0].value)
}

/// One step of the replay and what the chain said.
pub type Transcript = Vec<(String, Answer)>;

#[derive(Debug)]
pub struct Replay<'a> {
    pub chain: &'a CoreRpcClient,
    pub transcript: Transcript,
}

impl Replay<'_> {
    pub async fn record(&mut self, what: &str, method: &str, params: Value) {
        let answer = ask(self.chain, method, params).await;
        self.transcript.push((format!("{what}: {method}"), answer));
    }

    /// Records only the shape of a successful reply (errors in full).
    pub async fn record_shape(&mut self, what: &str, method: &str, params: Value) {
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
    pub async fn record_but_time(&mut self, what: &str, method: &str, params: Value) {
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
    pub async fn offer(&mut self, what: &str, tx: &Transaction) {
        let hex = serialize_hex(tx);
        self.record(what, "testmempoolaccept", json!([[hex]])).await;
        self.record(what, "sendrawtransaction", json!([hex])).await;
    }
}
