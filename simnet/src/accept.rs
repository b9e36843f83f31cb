//! Mempool admission, in the order and with the reject reasons of Bitcoin Core 30's
//! `MemPoolAccept::PreChecks`/`ReplacementChecks`/`PolicyScriptChecks`: structure,
//! standardness, finality, double spends (full replace-by-fee, as Core 30 always does),
//! missing inputs, coinbase maturity, fee, chain limits, and every input's script through
//! Bitcoin Core's interpreter.

use std::collections::HashSet;
use std::sync::Arc;

use bitcoin::{Amount, Transaction, TxOut, Txid};
use sluice_shared::consensus::verify_transaction;

use super::chainstate::ChainState;
use super::mempool::{Mempool, MempoolEntry};
use super::rules::{self, Rejection, COINBASE_MATURITY};
use super::script_text::output_type;
use sluice_shared::rpc_codes as codes;

/// Core 30's defaults (`-minrelaytxfee`, `-incrementalrelayfee`: 100 sat/kvB).
pub const MIN_RELAY_SAT_PER_KVB: u64 = 100;
pub const INCREMENTAL_RELAY_SAT_PER_KVB: u64 = 100;
const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
const MAX_SCRIPT_SIG_SIZE: usize = 1650;
const CHAIN_LIMIT: usize = 25;
const MAX_REPLACEMENTS: usize = 100;

/// A transaction that may enter, and what it replaces (conflicts and their descendants).
#[derive(Debug)]
pub struct Admission {
    pub entry: MempoolEntry,
    pub replaces: Vec<Txid>,
}

fn rejected(reason: impl Into<String>) -> Rejection {
    Rejection::new(codes::TRANSACTION_REJECTED, reason)
}

/// The fee a rate in sat/kvB asks of `vsize` virtual bytes, rounded up (Core's `GetFee`).
pub fn fee_at(sat_per_kvb: u64, vsize: u64) -> Amount {
    Amount::from_sat((u128::from(sat_per_kvb) * u128::from(vsize)).div_ceil(1000) as u64)
}

/// Core's `CFeeRate::ToString`: `0.00001000 BTC/kvB`.
fn rate_text(fee: Amount, vsize: u64) -> String {
    let per_kvb = fee.to_sat().saturating_mul(1000) / vsize.max(1);
    format!("{}.{:08} BTC/kvB", per_kvb / 100_000_000, per_kvb % 100_000_000)
}

/// Core's `FormatMoney`: trailing zeros trimmed down to two decimals.
pub fn money_text(amount: Amount) -> String {
    let sat = amount.to_sat();
    let mut text = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    while text.ends_with('0') && text.len() - text.find('.').unwrap_or(0) > 3 {
        text.pop();
    }
    text
}

/// `IsStandardTx` and the size floor of `PreChecks`.
fn check_standard(tx: &Transaction) -> Result<(), Rejection> {
    if !(1..=3).contains(&tx.version.0) {
        return Err(rejected("version"));
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err(rejected("tx-size"));
    }
    for input in &tx.input {
        if input.script_sig.len() > MAX_SCRIPT_SIG_SIZE {
            return Err(rejected("scriptsig-size"));
        }
        if !input.script_sig.is_push_only() {
            return Err(rejected("scriptsig-not-pushonly"));
        }
    }
    for out in &tx.output {
        if output_type(&out.script_pubkey) == "nonstandard" {
            return Err(rejected("scriptpubkey"));
        }
    }
    if tx
        .output
        .iter()
        .any(|o| !o.script_pubkey.is_op_return() && o.value < o.script_pubkey.minimal_non_dust())
    {
        return Err(rejected("dust"));
    }
    if tx.base_size() < 65 {
        return Err(rejected("tx-size-small"));
    }
    Ok(())
}

/// May `tx` enter `pool` on top of `chain`? `bypass_fee` is for transactions returning
/// from disconnected blocks, which Core takes back whatever their fee.
pub fn check(
    chain: &ChainState,
    pool: &Mempool,
    tx: Arc<Transaction>,
    now: u64,
    bypass_fee: bool,
) -> Result<Admission, Rejection> {
    rules::check_transaction(&tx).map_err(rejected)?;
    if tx.is_coinbase() {
        return Err(rejected("coinbase"));
    }
    check_standard(&tx)?;
    let next_height = chain.height() + 1;
    if !rules::is_final(&tx, next_height, chain.tip_mtp()) {
        return Err(rejected("non-final"));
    }
    let txid = tx.compute_txid();
    let wtxid = tx.compute_wtxid();
    if let Some(existing) = pool.get(&txid) {
        return Err(rejected(if existing.wtxid == wtxid {
            "txn-already-in-mempool"
        } else {
            "txn-same-nonwitness-data-in-mempool"
        }));
    }
    let mut conflicts: Vec<Txid> = tx
        .input
        .iter()
        .filter_map(|i| pool.spender_of(&i.previous_output))
        .collect();
    conflicts.sort();
    conflicts.dedup();

    // The coins spent: confirmed ones, or outputs of mempool transactions (height next).
    let mut spent: Vec<TxOut> = Vec::with_capacity(tx.input.len());
    let mut heights = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        if let Some(coin) = chain.coin(&input.previous_output) {
            if coin.coinbase && next_height - coin.height < COINBASE_MATURITY {
                return Err(
                    rejected("bad-txns-premature-spend-of-coinbase").with_details(format!(
                        "tried to spend coinbase at depth {}",
                        next_height - coin.height
                    )),
                );
            }
            spent.push(coin.out.clone());
            heights.push(coin.height);
        } else if let Some(out) = pool.output(&input.previous_output) {
            spent.push(out.clone());
            heights.push(next_height);
        } else {
            let known = (0..tx.output.len())
                .any(|vout| chain.coin(&bitcoin::OutPoint::new(txid, vout as u32)).is_some());
            if known {
                return Err(rejected("txn-already-known"));
            }
            return Err(Rejection::new(
                codes::TRANSACTION_ERROR,
                "bad-txns-inputs-missingorspent",
            ));
        }
    }
    if !rules::sequence_locks_met(&tx, &heights, next_height, chain.tip_mtp(), |h| chain.mtp_at(h)) {
        return Err(rejected("non-BIP68-final"));
    }
    let value_in = spent
        .iter()
        .try_fold(Amount::ZERO, |sum, o| sum.checked_add(o.value))
        .filter(|v| *v <= Amount::MAX_MONEY)
        .ok_or_else(|| rejected("bad-txns-inputvalues-outofrange"))?;
    let value_out: Amount = tx.output.iter().map(|o| o.value).sum();
    let fee = value_in.checked_sub(value_out).ok_or_else(|| {
        rejected("bad-txns-in-belowout").with_details(format!(
            "value in ({}) < value out ({})",
            money_text(value_in),
            money_text(value_out)
        ))
    })?;
    let weight = tx.weight().to_wu();
    let vsize = weight.div_ceil(4);
    let min_fee = fee_at(MIN_RELAY_SAT_PER_KVB, vsize);
    if !bypass_fee && fee < min_fee {
        return Err(rejected("min relay fee not met").with_details(format!(
            "{} < {}",
            fee.to_sat(),
            min_fee.to_sat()
        )));
    }

    let ancestors = pool.ancestors_of_inputs(tx.input.iter().map(|i| &i.previous_output));
    if ancestors.len() + 1 > CHAIN_LIMIT {
        return Err(rejected("too-long-mempool-chain")
            .with_details(format!("too many unconfirmed ancestors [limit: {CHAIN_LIMIT}]")));
    }
    for ancestor in &ancestors {
        if pool.descendants(ancestor).len() + 2 > CHAIN_LIMIT {
            return Err(rejected("too-long-mempool-chain").with_details(format!(
                "too many descendants for tx {ancestor} [limit: {CHAIN_LIMIT}]"
            )));
        }
    }

    let replaces = if conflicts.is_empty() {
        Vec::new()
    } else {
        check_replacement(pool, &tx, txid, fee, vsize, &conflicts, &ancestors)?
    };

    verify_transaction(&tx, &spent).map_err(|e| {
        let (index, reason) = match &e {
            sluice_shared::consensus::ScriptCheckError::Invalid { index, reason } => (*index, reason.clone()),
            other => (0, other.to_string()),
        };
        let prevout = tx.input.get(index).map(|i| i.previous_output);
        rejected(format!("mempool-script-verify-flag-failed ({reason})")).with_details(format!(
            "input {index} of {txid} (wtxid {wtxid}), spending {}",
            prevout.map_or_else(String::new, |p| format!("{}:{}", p.txid, p.vout))
        ))
    })?;

    Ok(Admission {
        entry: MempoolEntry {
            tx,
            txid,
            wtxid,
            fee,
            vsize,
            weight,
            time: now,
            height: chain.height(),
            seq: 0,
        },
        replaces,
    })
}

/// A signed satoshi amount as Core prints money (`-0.00001000`).
fn sat_text(sats: i64) -> String {
    let sign = if sats < 0 { "-" } else { "" };
    format!("{sign}{}", money_text(Amount::from_sat(sats.unsigned_abs())))
}

/// Core 30's replacement rules (full RBF: no signalling needed). Returns every transaction
/// the replacement evicts.
fn check_replacement(
    pool: &Mempool,
    tx: &Transaction,
    txid: Txid,
    fee: Amount,
    vsize: u64,
    conflicts: &[Txid],
    ancestors: &HashSet<Txid>,
) -> Result<Vec<Txid>, Rejection> {
    if let Some(spent_conflict) = conflicts.iter().find(|c| ancestors.contains(*c)) {
        return Err(rejected("bad-txns-spends-conflicting-tx")
            .with_details(format!("{txid} spends conflicting transaction {spent_conflict}")));
    }
    let mut evicted: HashSet<Txid> = conflicts.iter().copied().collect();
    for conflict in conflicts {
        evicted.extend(pool.descendants(conflict));
    }
    if evicted.len() > MAX_REPLACEMENTS {
        return Err(rejected("too many potential replacements").with_details(format!(
            "rejecting replacement {txid}; too many potential replacements ({} > {MAX_REPLACEMENTS})",
            evicted.len()
        )));
    }
    // Core compares modified fees (with `prioritisetransaction` deltas) throughout.
    let modified = pool.modified_fee(&txid, fee);
    for conflict in conflicts.iter().filter_map(|c| pool.get(c)) {
        let conflict_fee = pool.modified_fee(&conflict.txid, conflict.fee);
        // new fee / new vsize <= old fee / old vsize, without division.
        let new = i128::from(modified) * i128::from(conflict.vsize);
        let old = i128::from(conflict_fee) * i128::from(vsize);
        if new <= old {
            return Err(rejected("insufficient fee").with_details(format!(
                "rejecting replacement {txid}; new feerate {} <= old feerate {}",
                rate_text(fee, vsize),
                rate_text(conflict.fee, conflict.vsize)
            )));
        }
    }
    let conflict_parents: HashSet<Txid> = conflicts
        .iter()
        .filter_map(|c| pool.get(c))
        .flat_map(|e| e.tx.input.iter().map(|i| i.previous_output.txid))
        .collect();
    for (index, input) in tx.input.iter().enumerate() {
        let parent = input.previous_output.txid;
        if pool.contains(&parent) && !conflict_parents.contains(&parent) {
            return Err(rejected("replacement-adds-unconfirmed")
                .with_details(format!("replacement {txid} adds unconfirmed input, idx {index}")));
        }
    }
    let original: i64 = evicted
        .iter()
        .filter_map(|t| pool.get(t))
        .map(|e| pool.modified_fee(&e.txid, e.fee))
        .fold(0i64, i64::saturating_add);
    if modified < original {
        return Err(rejected("insufficient fee").with_details(format!(
            "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
            sat_text(modified),
            sat_text(original)
        )));
    }
    let additional = modified.saturating_sub(original);
    let needed = fee_at(INCREMENTAL_RELAY_SAT_PER_KVB, vsize);
    if additional < i64::try_from(needed.to_sat()).unwrap_or(i64::MAX) {
        return Err(rejected("insufficient fee").with_details(format!(
            "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
            sat_text(additional),
            money_text(needed)
        )));
    }
    Ok(evicted.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_rates_print_as_core_prints_them() {
        assert_eq!(money_text(Amount::from_sat(1410)), "0.0000141");
        assert_eq!(money_text(Amount::from_sat(100_000_000)), "1.00");
        assert_eq!(money_text(Amount::from_sat(150_000_000)), "1.50");
        assert_eq!(money_text(Amount::ZERO), "0.00");
        assert_eq!(rate_text(Amount::from_sat(141), 141), "0.00001000 BTC/kvB");
        assert_eq!(fee_at(100, 141), Amount::from_sat(15));
        assert_eq!(fee_at(100, 1000), Amount::from_sat(100));
    }
}
