//! Regtest's consensus rules as pure functions: the subsidy schedule, `CheckTransaction`,
//! finality (`IsFinalTx`, BIP113), relative lock-times (BIP68), `CheckBlock` and the
//! contextual block checks (BIP34 height, regtest difficulty, median time past). Reasons
//! are Bitcoin Core's reject strings.

use std::collections::HashSet;
use std::fmt;

use bitcoin::blockdata::script::Builder;
use bitcoin::{Amount, Block, CompactTarget, Transaction};

/// Regtest's fixed difficulty (`powLimit`, never retargeted).
pub const REGTEST_BITS: u32 = 0x207f_ffff;
pub const COINBASE_MATURITY: u32 = 100;
/// Regtest halves the subsidy every 150 blocks (mainnet: 210,000).
pub const HALVING_INTERVAL: u32 = 150;
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Lock-times below this are heights, at or above it Unix times.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// A refusal with Bitcoin Core's RPC error code, reject reason and optional details; the
/// RPC message is `reason, details` as Core's `TxValidationState::ToString` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: i64,
    pub reason: String,
    pub details: Option<String>,
}

impl Rejection {
    pub fn new(code: i64, reason: impl Into<String>) -> Rejection {
        Rejection {
            code,
            reason: reason.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Rejection {
        self.details = Some(details.into());
        self
    }

    pub fn message(&self) -> String {
        match &self.details {
            Some(details) => format!("{}, {details}", self.reason),
            None => self.reason.clone(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message(), self.code)
    }
}

pub fn subsidy(height: u32) -> Amount {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000) >> halvings)
}

/// Core's `CheckTransaction`: structure and value ranges, nothing that needs the chain.
pub fn check_transaction(tx: &Transaction) -> Result<(), &'static str> {
    if tx.input.is_empty() {
        return Err("bad-txns-vin-empty");
    }
    if tx.output.is_empty() {
        return Err("bad-txns-vout-empty");
    }
    if tx.base_size() as u64 * 4 > MAX_BLOCK_WEIGHT {
        return Err("bad-txns-oversize");
    }
    let mut total = Amount::ZERO;
    for out in &tx.output {
        if out.value > Amount::MAX_MONEY {
            return Err("bad-txns-vout-toolarge");
        }
        total = total
            .checked_add(out.value)
            .filter(|t| *t <= Amount::MAX_MONEY)
            .ok_or("bad-txns-txouttotal-toolarge")?;
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    if !tx.input.iter().all(|i| seen.insert(i.previous_output)) {
        return Err("bad-txns-inputs-duplicate");
    }
    if tx.is_coinbase() {
        if !(2..=100).contains(&tx.input[0].script_sig.len()) {
            return Err("bad-cb-length");
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err("bad-txns-prevout-null");
    }
    Ok(())
}

/// `IsFinalTx`: may `tx` be in a block at `height` whose time cutoff (the previous block's
/// median time past, BIP113) is `time_cutoff`?
pub fn is_final(tx: &Transaction, height: u32, time_cutoff: u32) -> bool {
    let lock_time = tx.lock_time.to_consensus_u32();
    if lock_time == 0 {
        return true;
    }
    let limit = if lock_time < LOCKTIME_THRESHOLD {
        height
    } else {
        time_cutoff
    };
    lock_time < limit || tx.input.iter().all(|i| i.sequence.0 == u32::MAX)
}

/// BIP68: are the relative lock-times of `tx` met in a block at `height` whose previous
/// block has median time past `prev_mtp`? `coin_heights[i]` is where input `i`'s coin was
/// created; `mtp_at(h)` is the median time past of the active chain's block at height `h`.
pub fn sequence_locks_met(
    tx: &Transaction,
    coin_heights: &[u32],
    height: u32,
    prev_mtp: u32,
    mtp_at: impl Fn(u32) -> u32,
) -> bool {
    const DISABLE: u32 = 1 << 31;
    const TYPE_TIME: u32 = 1 << 22;
    const MASK: u32 = 0xffff;
    if tx.version.0 < 2 {
        return true;
    }
    let mut min_height: i64 = -1;
    let mut min_time: i64 = -1;
    for (input, coin_height) in tx.input.iter().zip(coin_heights) {
        let sequence = input.sequence.0;
        if sequence & DISABLE != 0 {
            continue;
        }
        if sequence & TYPE_TIME != 0 {
            let coin_time = i64::from(mtp_at(coin_height.saturating_sub(1)));
            min_time = min_time.max(coin_time + (i64::from(sequence & MASK) << 9) - 1);
        } else {
            min_height = min_height.max(i64::from(*coin_height) + i64::from(sequence & MASK) - 1);
        }
    }
    min_height < i64::from(height) && min_time < i64::from(prev_mtp)
}

/// The median of up to the last 11 block times (BIP113's "median time past").
pub fn median_time(mut times: Vec<u32>) -> u32 {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or(0)
}

/// The block's size without witness data ("strippedsize").
pub fn stripped_size(block: &Block) -> usize {
    let count = bitcoin::VarInt::from(block.txdata.len()).size();
    80 + count + block.txdata.iter().map(Transaction::base_size).sum::<usize>()
}

/// Core's `CheckBlockHeader` + `CheckBlock`: proof of work at regtest difficulty, merkle
/// root, coinbase placement, size, each transaction, witness commitment.
pub fn check_block(block: &Block) -> Result<(), &'static str> {
    if block.header.bits != CompactTarget::from_consensus(REGTEST_BITS) {
        return Err("bad-diffbits");
    }
    if block.header.validate_pow(block.header.target()).is_err() {
        return Err("high-hash");
    }
    if block.txdata.is_empty() || stripped_size(block) as u64 * 4 > MAX_BLOCK_WEIGHT {
        return Err("bad-blk-length");
    }
    if !block.check_merkle_root() {
        return Err("bad-txnmrklroot");
    }
    // Duplicate transactions are how a merkle root can be "mutated" (CVE-2012-2459).
    let mut txids = HashSet::with_capacity(block.txdata.len());
    if !block.txdata.iter().all(|tx| txids.insert(tx.compute_txid())) {
        return Err("bad-txns-duplicate");
    }
    if !block.txdata[0].is_coinbase() {
        return Err("bad-cb-missing");
    }
    if block.txdata[1..].iter().any(Transaction::is_coinbase) {
        return Err("bad-cb-multiple");
    }
    for tx in &block.txdata {
        check_transaction(tx)?;
    }
    if !block.check_witness_commitment() {
        return Err("bad-witness-merkle-match");
    }
    if block.weight().to_wu() > MAX_BLOCK_WEIGHT {
        return Err("bad-blk-weight");
    }
    Ok(())
}

/// Core's `ContextualCheckBlockHeader` + `ContextualCheckBlock` for a block at `height`
/// on a parent whose median time past is `prev_mtp`.
pub fn check_block_in_context(block: &Block, height: u32, prev_mtp: u32) -> Result<(), String> {
    if block.header.time <= prev_mtp {
        return Err("time-too-old".to_owned());
    }
    let version = block.header.version.to_consensus();
    if version < 4 {
        return Err(format!("bad-version(0x{version:08x})"));
    }
    if !block.txdata.iter().all(|tx| is_final(tx, height, prev_mtp)) {
        return Err("bad-txns-nonfinal".to_owned());
    }
    // BIP34: the coinbase script starts with the height, encoded as Core's `CScript() << h`.
    let expected = Builder::new().push_int(i64::from(height)).into_script();
    let coinbase_script = block.txdata.first().map(|tx| tx.input[0].script_sig.as_bytes());
    if !coinbase_script.is_some_and(|s| s.starts_with(expected.as_bytes())) {
        return Err("bad-cb-height".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute, transaction, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Txid, Witness};
    use std::str::FromStr;

    fn tx(lock_time: u32, sequence: u32, version: i32) -> Transaction {
        Transaction {
            version: transaction::Version(version),
            lock_time: absolute::LockTime::from_consensus(lock_time),
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_str(&"11".repeat(32)).unwrap(), 0),
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(subsidy(1), Amount::from_btc(50.0).unwrap());
        assert_eq!(subsidy(149), Amount::from_btc(50.0).unwrap());
        assert_eq!(subsidy(150), Amount::from_btc(25.0).unwrap());
        assert_eq!(subsidy(300), Amount::from_btc(12.5).unwrap());
        assert_eq!(subsidy(150 * 64), Amount::ZERO);
    }

    #[test]
    fn finality_by_height_and_time() {
        assert!(is_final(&tx(0, 0, 2), 1, 0));
        assert!(is_final(&tx(100, 0, 2), 101, 0));
        assert!(!is_final(&tx(100, 0, 2), 100, 0));
        assert!(is_final(&tx(100, u32::MAX, 2), 100, 0), "all sequences final");
        assert!(!is_final(&tx(1_700_000_000, 0, 2), 100, 1_700_000_000));
        assert!(is_final(&tx(1_700_000_000, 0, 2), 100, 1_700_000_001));
    }

    #[test]
    fn bip68_relative_heights_and_times() {
        // 10 blocks after a coin at height 50: spendable at 60, not 59.
        let relative = tx(0, 10, 2);
        assert!(sequence_locks_met(&relative, &[50], 60, 0, |_| 0));
        assert!(!sequence_locks_met(&relative, &[50], 59, 0, |_| 0));
        // Version 1 transactions and the disable flag ignore the lock.
        assert!(sequence_locks_met(&tx(0, 10, 1), &[50], 51, 0, |_| 0));
        assert!(sequence_locks_met(&tx(0, 10 | 1 << 31, 2), &[50], 51, 0, |_| 0));
        // 512 seconds after the coin's previous block's median time.
        let timed = tx(0, (1 << 22) | 1, 2);
        assert!(!sequence_locks_met(&timed, &[50], 60, 1000 + 511, |_| 1000));
        assert!(sequence_locks_met(&timed, &[50], 60, 1000 + 512, |_| 1000));
    }

    #[test]
    fn transaction_structure() {
        let mut t = tx(0, 0, 2);
        assert_eq!(check_transaction(&t), Ok(()));
        t.output[0].value = Amount::MAX_MONEY + Amount::from_sat(1);
        assert_eq!(check_transaction(&t), Err("bad-txns-vout-toolarge"));
        let mut t = tx(0, 0, 2);
        t.input.push(t.input[0].clone());
        assert_eq!(check_transaction(&t), Err("bad-txns-inputs-duplicate"));
        t.input.clear();
        assert_eq!(check_transaction(&t), Err("bad-txns-vin-empty"));
        assert_eq!(median_time(vec![5, 1, 3]), 3);
    }
}
