//! Mempool admission, in the order and with the reject reasons of the Bitcoin Core the
//! tests run (v31.99, cluster mempool) `MemPoolAccept::PreChecks`/`ReplacementChecks`/
//! `PolicyScriptChecks`: structure, standardness, finality, double spends (full
//! replace-by-fee), missing inputs, coinbase maturity, ephemeral dust, fee, cluster
//! limits, the feerate diagram of a replacement, and every input's script through Bitcoin
//! Core's interpreter. `tests/tests/simnet_agrees_with_core.rs` replays the same
//! transactions through both.

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
/// Core's `-limitclustercount` and `-limitclustersize` defaults (`DEFAULT_CLUSTER_LIMIT`,
/// `DEFAULT_CLUSTER_SIZE_LIMIT_KVB`): no unconfirmed cluster above 64 transactions or
/// 101 kvB.
pub const CLUSTER_COUNT_LIMIT: usize = 64;
pub const CLUSTER_VSIZE_LIMIT: u64 = 101_000;
/// Core's `MAX_REPLACEMENT_CANDIDATES`: distinct clusters a replacement may conflict with.
const MAX_REPLACEMENT_CLUSTERS: usize = 100;
/// Core's `MAX_DUST_OUTPUTS_PER_TX`: one dust output is allowed (ephemeral dust) if the
/// transaction pays no fee.
const MAX_DUST_OUTPUTS: usize = 1;

/// The reason of a spend of inputs that are neither unspent on the chain nor in the
/// mempool (code -25).
pub const MISSING_INPUTS: &str = "bad-txns-inputs-missingorspent";

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

/// Core's `FormatMoney`: trailing zeros trimmed down to two decimals.
pub fn money_text(amount: Amount) -> String {
    let sat = amount.to_sat();
    let mut text = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    while text.ends_with('0') && text.len() - text.find('.').unwrap_or(0) > 3 {
        text.pop();
    }
    text
}

/// Core's `IsDust` at the default dust relay fee (3 sat/vB); unspendable outputs never are.
fn is_dust(out: &TxOut) -> bool {
    !out.script_pubkey.is_op_return() && out.value < out.script_pubkey.minimal_non_dust()
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
    if tx.output.iter().filter(|o| is_dust(o)).count() > MAX_DUST_OUTPUTS {
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
            return Err(Rejection::new(codes::TRANSACTION_ERROR, MISSING_INPUTS));
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
    // Ephemeral dust (`PreCheckEphemeralTx`): a dust output only on a transaction with no
    // incentive to be mined alone.
    if fee != Amount::ZERO && tx.output.iter().any(is_dust) {
        return Err(rejected("dust").with_details("tx with dust output must be 0-fee"));
    }
    let min_fee = fee_at(MIN_RELAY_SAT_PER_KVB, vsize);
    if !bypass_fee && fee < min_fee {
        return Err(rejected("min relay fee not met").with_details(format!(
            "{} < {}",
            fee.to_sat(),
            min_fee.to_sat()
        )));
    }

    let evicted = if conflicts.is_empty() {
        HashSet::new()
    } else {
        check_replacement_fees(pool, txid, fee, vsize, &conflicts)?
    };
    check_cluster_limits(pool, &tx, vsize, &evicted)?;
    if !conflicts.is_empty() {
        check_feerate_diagram(pool, txid, fee, vsize, &evicted)?;
        let ancestors = pool.ancestors_of_inputs(tx.input.iter().map(|i| &i.previous_output));
        if let Some(spent_conflict) = conflicts.iter().find(|c| ancestors.contains(*c)) {
            return Err(rejected("bad-txns-spends-conflicting-tx")
                .with_details(format!("{txid} spends conflicting transaction {spent_conflict}")));
        }
    }
    let replaces: Vec<Txid> = evicted.into_iter().collect();

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
            unbroadcast: !bypass_fee,
        },
        replaces,
    })
}

/// A signed satoshi amount as Core prints money (`-0.00001000`).
fn sat_text(sats: i64) -> String {
    let sign = if sats < 0 { "-" } else { "" };
    format!("{sign}{}", money_text(Amount::from_sat(sats.unsigned_abs())))
}

/// Core's replacement rules 5, 3 and 4 (full RBF: no signalling needed): at most 100
/// conflicting clusters; the replacement pays at least the fees of everything it evicts,
/// plus its own size at the incremental relay fee. Returns every transaction it evicts
/// (the conflicts and their descendants).
fn check_replacement_fees(
    pool: &Mempool,
    txid: Txid,
    fee: Amount,
    vsize: u64,
    conflicts: &[Txid],
) -> Result<HashSet<Txid>, Rejection> {
    let mut clusters = 0;
    let mut seen: HashSet<Txid> = HashSet::new();
    for conflict in conflicts {
        if !seen.contains(conflict) {
            clusters += 1;
            seen.extend(pool.connected([*conflict], &HashSet::new()));
        }
    }
    if clusters > MAX_REPLACEMENT_CLUSTERS {
        return Err(rejected("too many potential replacements").with_details(format!(
            "rejecting replacement {txid}; too many conflicting clusters ({clusters} > {MAX_REPLACEMENT_CLUSTERS})"
        )));
    }
    let mut evicted: HashSet<Txid> = conflicts.iter().copied().collect();
    for conflict in conflicts {
        evicted.extend(pool.descendants(conflict));
    }
    // Core compares modified fees (with `prioritisetransaction` deltas) throughout.
    let modified = pool.modified_fee(&txid, fee);
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
    Ok(evicted)
}

/// Core's cluster limits (`CheckMemPoolPolicyLimits`): the cluster the transaction joins,
/// once `evicted` is gone, stays within 64 transactions and 101 kvB.
fn check_cluster_limits(
    pool: &Mempool,
    tx: &Transaction,
    vsize: u64,
    evicted: &HashSet<Txid>,
) -> Result<(), Rejection> {
    let cluster = pool.connected(tx.input.iter().map(|i| i.previous_output.txid), evicted);
    let cluster_vsize: u64 = vsize
        + cluster
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| e.vsize)
            .sum::<u64>();
    if cluster.len() + 1 > CLUSTER_COUNT_LIMIT || cluster_vsize > CLUSTER_VSIZE_LIMIT {
        return Err(rejected("too-large-cluster"));
    }
    Ok(())
}

/// A feerate diagram: cumulative (vsize, modified fee) at the end of each chunk, from (0, 0).
type Diagram = Vec<(u64, i64)>;

/// Chunks `entries` (already in an order that puts parents first) as Core chunks a
/// linearization: each chunk at a higher feerate than the one after it, merging a chunk
/// into the one before while it pays a higher feerate.
fn diagram(entries: &[(u64, i64)]) -> Diagram {
    let mut chunks: Vec<(u64, i64)> = Vec::new();
    for &(vsize, fee) in entries {
        let mut chunk = (vsize, fee);
        while let Some(&(last_vsize, last_fee)) = chunks.last() {
            // chunk feerate > last feerate  ⇔  fee·last_vsize > last_fee·vsize
            if i128::from(chunk.1) * i128::from(last_vsize) > i128::from(last_fee) * i128::from(chunk.0) {
                chunks.pop();
                chunk = (chunk.0 + last_vsize, chunk.1 + last_fee);
            } else {
                break;
            }
        }
        chunks.push(chunk);
    }
    let mut points = vec![(0, 0)];
    for (vsize, fee) in chunks {
        let &(x, y): &(u64, i64) = points.last().unwrap_or(&(0, 0));
        points.push((x + vsize, y.saturating_add(fee)));
    }
    points
}

/// The diagram's fee at `x` vsize, as a fraction (numerator, denominator); flat after its end.
fn fee_at_size(diagram: &Diagram, x: u64) -> (i128, i128) {
    for pair in diagram.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            let (x0, y0, x1, y1, x) = (x0 as i128, y0 as i128, x1 as i128, y1 as i128, x as i128);
            let width = (x1 - x0).max(1);
            return (y0 * width + (y1 - y0) * (x - x0), width);
        }
    }
    (diagram.last().map_or(0, |&(_, y)| y as i128), 1)
}

/// Core's `ImprovesFeerateDiagram`: the mempool after the replacement must be strictly
/// better to mine than before, at every size. Simnet compares the replaced transactions
/// (chunked in entry order) with the replacement alone; the rest of their clusters is the
/// same on both sides (exact while a replacement and what it evicts have no other
/// unconfirmed relatives, as in every Sluice transaction).
fn check_feerate_diagram(
    pool: &Mempool,
    txid: Txid,
    fee: Amount,
    vsize: u64,
    evicted: &HashSet<Txid>,
) -> Result<(), Rejection> {
    let mut old: Vec<&MempoolEntry> = evicted.iter().filter_map(|t| pool.get(t)).collect();
    old.sort_by_key(|e| e.seq);
    let old = diagram(
        &old.iter()
            .map(|e| (e.vsize, pool.modified_fee(&e.txid, e.fee)))
            .collect::<Vec<_>>(),
    );
    let new = diagram(&[(vsize, pool.modified_fee(&txid, fee))]);
    let mut improves = false;
    for x in old.iter().chain(&new).map(|&(x, _)| x) {
        let (new_fee, new_den) = fee_at_size(&new, x);
        let (old_fee, old_den) = fee_at_size(&old, x);
        match (new_fee * old_den).cmp(&(old_fee * new_den)) {
            std::cmp::Ordering::Less => {
                improves = false;
                break;
            }
            std::cmp::Ordering::Greater => improves = true,
            std::cmp::Ordering::Equal => {}
        }
    }
    if !improves {
        return Err(rejected("replacement-failed")
            .with_details("insufficient feerate: does not improve feerate diagram"));
    }
    Ok(())
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
        assert_eq!(fee_at(100, 141), Amount::from_sat(15));
        assert_eq!(fee_at(100, 1000), Amount::from_sat(100));
    }

    #[test]
    fn a_replacement_must_improve_the_feerate_diagram() {
        // Chunks merge while a later transaction pays more (CPFP): 100 vB at 1 sat/vB then
        // 100 vB at 3 sat/vB is one chunk of 200 vB at 2 sat/vB.
        assert_eq!(diagram(&[(100, 100), (100, 300)]), vec![(0, 0), (200, 400)]);
        assert_eq!(
            diagram(&[(100, 300), (100, 100)]),
            vec![(0, 0), (100, 300), (200, 400)]
        );
        let evicted = |entries: &[(u64, i64)]| diagram(entries);
        let beats = |old: &Diagram, vsize: u64, fee: i64| {
            let new = diagram(&[(vsize, fee)]);
            let mut improves = false;
            for x in old.iter().chain(&new).map(|&(x, _)| x) {
                let (n, nd) = fee_at_size(&new, x);
                let (o, od) = fee_at_size(old, x);
                match (n * od).cmp(&(o * nd)) {
                    std::cmp::Ordering::Less => return false,
                    std::cmp::Ordering::Greater => improves = true,
                    std::cmp::Ordering::Equal => {}
                }
            }
            improves
        };
        let one = evicted(&[(110, 10_000)]);
        assert!(beats(&one, 110, 10_012), "same size, more fee");
        assert!(!beats(&one, 110, 10_000), "the same diagram is no improvement");
        assert!(!beats(&one, 389, 30_000), "more fee at a lower feerate");
        assert!(beats(&one, 220, 20_000), "the same feerate over more size");
    }
}
