//! Blocks, headers, transactions and mempool entries as JSON in the shapes Bitcoin Core 30
//! answers with (field names and types as in `core_rpc_samples.json`).

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Amount, Block, BlockHash, Script, Transaction, Txid};
use serde_json::{json, Map, Value};

use super::chainstate::ChainState;
use super::mempool::Mempool;
use super::script_text::{address, asm, inferred_descriptor, output_type};

pub fn btc(amount: Amount) -> Value {
    json!(amount.to_btc())
}

/// A signed satoshi amount in BTC (a modified fee can be negative).
pub fn btc_signed(sats: i64) -> Value {
    let magnitude = Amount::from_sat(sats.unsigned_abs()).to_btc();
    json!(if sats < 0 { -magnitude } else { magnitude })
}

/// A fee rate of `sat_per_kvb` as Core prints it (BTC per kvB).
pub fn btc_per_kvb(sat_per_kvb: u64) -> Value {
    btc(Amount::from_sat(sat_per_kvb))
}

pub fn script_pubkey(script: &Script) -> Value {
    let mut value = json!({
        "asm": asm(script, false),
        "desc": inferred_descriptor(script),
        "hex": hex::encode(script.as_bytes()),
        "type": output_type(script),
    });
    if let Some(address) = address(script) {
        value["address"] = json!(address);
    }
    value
}

/// A transaction as in `decoderawtransaction`; `fee` for `getblock` verbosity 2.
pub fn transaction(tx: &Transaction, fee: Option<Amount>) -> Value {
    let inputs: Vec<Value> = tx
        .input
        .iter()
        .map(|input| {
            let mut value = Map::new();
            if tx.is_coinbase() {
                value.insert("coinbase".into(), json!(hex::encode(input.script_sig.as_bytes())));
            } else {
                value.insert("txid".into(), json!(input.previous_output.txid));
                value.insert("vout".into(), json!(input.previous_output.vout));
                value.insert(
                    "scriptSig".into(),
                    json!({
                        "asm": asm(&input.script_sig, true),
                        "hex": hex::encode(input.script_sig.as_bytes()),
                    }),
                );
            }
            if !input.witness.is_empty() {
                let items: Vec<String> = input.witness.iter().map(hex::encode).collect();
                value.insert("txinwitness".into(), json!(items));
            }
            value.insert("sequence".into(), json!(input.sequence.0));
            Value::Object(value)
        })
        .collect();
    let outputs: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, out)| {
            json!({
                "value": btc(out.value),
                "n": n,
                "scriptPubKey": script_pubkey(&out.script_pubkey),
            })
        })
        .collect();
    let mut value = json!({
        "txid": tx.compute_txid(),
        "hash": tx.compute_wtxid(),
        "version": tx.version.0,
        "size": tx.total_size(),
        "vsize": tx.vsize(),
        "weight": tx.weight().to_wu(),
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": inputs,
        "vout": outputs,
    });
    if let Some(fee) = fee {
        value["fee"] = btc(fee);
    }
    value["hex"] = json!(serialize_hex(tx));
    value
}

/// Core's `GetDifficulty`, printed as Core's JSON writer prints doubles (16 significant
/// digits), so `4.656542373906925e-10` reads the same.
pub fn difficulty(bits: u32) -> f64 {
    let value = raw_difficulty(bits);
    format!("{value:.15e}").parse().unwrap_or(value)
}

fn raw_difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mut value = f64::from(0xffff) / f64::from(bits & 0x00ff_ffff);
    while shift < 29 {
        value *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        value /= 256.0;
        shift -= 1;
    }
    value
}

/// Total work up to `height`: every regtest block (genesis included) is worth 2.
pub fn chainwork(height: u32) -> String {
    format!("{:064x}", 2 * (u128::from(height) + 1))
}

/// `getblockheader HASH true` for a known block.
pub fn header(chain: &ChainState, hash: &BlockHash) -> Value {
    let Some((block, height, active)) = chain.block(hash) else {
        return Value::Null;
    };
    let header = &block.header;
    let mut value = json!({
        "hash": hash,
        "confirmations": chain.confirmations(hash),
        "height": height,
        "version": header.version.to_consensus(),
        "versionHex": format!("{:08x}", header.version.to_consensus()),
        "merkleroot": header.merkle_root,
        "time": header.time,
        "mediantime": chain.block_mtp(hash).unwrap_or(header.time),
        "nonce": header.nonce,
        "bits": format!("{:08x}", header.bits.to_consensus()),
        "target": hex::encode(header.target().to_be_bytes()),
        "difficulty": difficulty(header.bits.to_consensus()),
        "chainwork": chainwork(height),
        "nTx": block.txdata.len(),
    });
    if height > 0 {
        value["previousblockhash"] = json!(header.prev_blockhash);
    }
    if active {
        if let Some(next) = chain.hash_at(height + 1) {
            value["nextblockhash"] = json!(next);
        }
    }
    value
}

/// `getblock HASH 1|2`: the header fields, sizes, and txids (1) or transactions (2, with
/// fees when the block's spent coins are known).
pub fn block(chain: &ChainState, hash: &BlockHash, verbosity: u8) -> Value {
    let Some((block, _, _)) = chain.block(hash) else {
        return Value::Null;
    };
    let mut value = header(chain, hash);
    value["strippedsize"] = json!(super::rules::stripped_size(block));
    value["size"] = json!(block.total_size());
    value["weight"] = json!(block.weight().to_wu());
    if let Some(coinbase) = block.txdata.first() {
        value["coinbase_tx"] = coinbase_tx(coinbase);
    }
    value["tx"] = if verbosity >= 2 {
        let spent = chain.spent_coins(hash);
        json!(block
            .txdata
            .iter()
            .enumerate()
            .map(|(position, tx)| {
                let fee = position
                    .checked_sub(1)
                    .and_then(|i| spent.and_then(|s| s.get(i)))
                    .and_then(|coins| fee_of(tx, coins.iter().map(|c| c.out.value)));
                transaction(tx, fee)
            })
            .collect::<Vec<_>>())
    } else {
        json!(block
            .txdata
            .iter()
            .map(Transaction::compute_txid)
            .collect::<Vec<_>>())
    };
    value
}

/// `getblock`'s summary of the coinbase (Core v31): its version, lock time, the input's
/// sequence, scriptSig and its one witness element.
fn coinbase_tx(tx: &Transaction) -> Value {
    let mut value = json!({
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
    });
    if let Some(input) = tx.input.first() {
        value["sequence"] = json!(input.sequence.0);
        value["coinbase"] = json!(hex::encode(input.script_sig.as_bytes()));
        if let Some(element) = input.witness.iter().next() {
            value["witness"] = json!(hex::encode(element));
        }
    }
    value
}

fn fee_of(tx: &Transaction, inputs: impl Iterator<Item = Amount>) -> Option<Amount> {
    let value_in: Amount = inputs.sum();
    value_in.checked_sub(tx.output.iter().map(|o| o.value).sum())
}

/// `getrawtransaction TXID true` for a transaction of the active chain or the mempool.
pub fn raw_transaction(chain: &ChainState, tx: &Transaction, block: Option<&BlockHash>) -> Value {
    let mut value = transaction(tx, None);
    if let Some(hash) = block {
        if let Some((block, _, _)) = chain.block(hash) {
            value["blockhash"] = json!(hash);
            value["confirmations"] = json!(chain.confirmations(hash).max(0));
            value["time"] = json!(block.header.time);
            value["blocktime"] = json!(block.header.time);
        }
    }
    value
}

/// `getmempoolentry TXID` (and the values of `getrawmempool true`).
pub fn mempool_entry(pool: &Mempool, txid: &Txid) -> Value {
    let Some(entry) = pool.get(txid) else {
        return Value::Null;
    };
    let ancestors = pool.ancestors(txid);
    let descendants = pool.descendants(txid);
    // Core reports ancestor and descendant fees as modified fees (with
    // `prioritisetransaction` deltas).
    let sum = |set: &std::collections::HashSet<Txid>| {
        set.iter().filter_map(|t| pool.get(t)).fold(
            (entry.vsize, pool.modified_fee(txid, entry.fee)),
            |(size, fee), e| {
                (
                    size + e.vsize,
                    fee.saturating_add(pool.modified_fee(&e.txid, e.fee)),
                )
            },
        )
    };
    let (ancestor_size, ancestor_fee) = sum(&ancestors);
    let (descendant_size, descendant_fee) = sum(&descendants);
    let (chunk_fee, chunk_weight) = pool.chunk_of(txid).unwrap_or((entry.fee, entry.weight));
    json!({
        "vsize": entry.vsize,
        "weight": entry.weight,
        "time": entry.time,
        "height": entry.height,
        "descendantcount": descendants.len() + 1,
        "descendantsize": descendant_size,
        "ancestorcount": ancestors.len() + 1,
        "ancestorsize": ancestor_size,
        "chunkweight": chunk_weight,
        "wtxid": entry.wtxid,
        "fees": {
            "base": btc(entry.fee),
            "modified": btc_signed(pool.modified_fee(&entry.txid, entry.fee)),
            "ancestor": btc_signed(ancestor_fee),
            "descendant": btc_signed(descendant_fee),
            "chunk": btc(chunk_fee),
        },
        "depends": pool.parents(txid),
        "spentby": pool.children(txid),
        "unbroadcast": entry.unbroadcast,
    })
}

/// Header fields of a block as `getblockchaininfo` reports them for the tip.
pub fn tip_fields(block: &Block) -> (String, String, f64) {
    let header = &block.header;
    (
        format!("{:08x}", header.bits.to_consensus()),
        hex::encode(header.target().to_be_bytes()),
        difficulty(header.bits.to_consensus()),
    )
}
