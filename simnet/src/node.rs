//! A simnet node: the chain, the mempool and (optionally) their storage, with the
//! operations the RPC server offers. Time comes in as a value; nothing here reads a clock.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use bitcoin::{Amount, BlockHash, ScriptBuf, Transaction, Txid, Wtxid};

use super::accept::{self, fee_at};
use super::chainstate::{ChainChange, ChainState};
use super::mempool::Mempool;
use super::mining::{build_block, Parent};
use super::rules::{Rejection, MAX_BLOCK_WEIGHT};
use super::store::{Store, StoreError};

/// `testmempoolaccept`'s reason when a transaction pays more than its `maxfeerate`.
pub const MAX_FEE_EXCEEDED: &str = "max-fee-exceeded";
use sluice_shared::rpc_codes as codes;

/// Weight kept free for the coinbase, as Core's default `-blockmaxweight` does.
const COINBASE_RESERVE: u64 = 4_000;

/// `testmempoolaccept`'s verdict on one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptVerdict {
    pub txid: Txid,
    pub wtxid: Wtxid,
    /// vsize and fee when allowed.
    pub result: Result<(u64, Amount), Rejection>,
}

/// What `simnet_reorg` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reorg {
    pub disconnected: Vec<BlockHash>,
    pub connected: Vec<BlockHash>,
}

#[derive(Debug)]
pub struct Node {
    chain: ChainState,
    mempool: Mempool,
    store: Option<Store>,
    /// The mempool as last written to the store.
    stored_mempool: HashSet<Txid>,
}

fn storage_error(e: StoreError) -> Rejection {
    Rejection::new(codes::MISC_ERROR, format!("simnet storage failed: {e}"))
}

impl Node {
    /// A fresh chain (genesis only), kept in memory.
    pub fn in_memory() -> Node {
        Node {
            chain: ChainState::new(),
            mempool: Mempool::default(),
            store: None,
            stored_mempool: HashSet::new(),
        }
    }

    /// Opens the chain stored in `dir` (creating it), replaying every stored block through
    /// full validation, then the stored mempool.
    pub fn open(dir: &Path, now: u64) -> Result<Node, StoreError> {
        let store = Store::open(dir)?;
        let stored = store.load()?;
        let mut chain = ChainState::new();
        for block in stored.blocks {
            // A block the rules refuse stays out, as it did when it was first offered.
            let _ = chain.add_block(block);
        }
        for hash in &stored.invalidated {
            let _ = chain.invalidate(hash);
        }
        chain.activate_best_chain();
        let mut node = Node {
            chain,
            mempool: Mempool::default(),
            store: Some(store),
            stored_mempool: HashSet::new(),
        };
        node.stored_mempool = stored.mempool.iter().map(Transaction::compute_txid).collect();
        for tx in stored.mempool {
            let _ = node.admit(Arc::new(tx), now, false);
        }
        // Transactions the replayed chain no longer accepts leave the store too.
        node.write_mempool()?;
        Ok(node)
    }

    pub fn chain(&self) -> &ChainState {
        &self.chain
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// `prioritisetransaction`: block assembly and replacement see `txid`'s fee changed
    /// by `delta` satoshis (Core keeps the delta even before the transaction arrives).
    pub fn prioritise(&mut self, txid: Txid, delta: i64) {
        self.mempool.prioritise(txid, delta);
    }

    /// Checks and admits `tx`, evicting what it replaces.
    fn admit(&mut self, tx: Arc<Transaction>, now: u64, bypass_fee: bool) -> Result<Txid, Rejection> {
        let admission = accept::check(&self.chain, &self.mempool, tx, now, bypass_fee)?;
        for evicted in &admission.replaces {
            self.mempool.remove(evicted);
        }
        let txid = admission.entry.txid;
        self.mempool.insert(admission.entry);
        Ok(txid)
    }

    /// `sendrawtransaction`, as Core's `BroadcastTransaction`: `-27` when the transaction's
    /// outputs are already in the UTXO set, success when it is already in the mempool,
    /// otherwise the mempool's verdict, and `-25` above `max_fee_per_kvb` (sat/kvB, 0: no cap).
    pub fn submit(&mut self, tx: Transaction, now: u64, max_fee_per_kvb: u64) -> Result<Txid, Rejection> {
        let txid = tx.compute_txid();
        let confirmed = (0..tx.output.len()).any(|vout| {
            self.chain
                .coin(&bitcoin::OutPoint::new(txid, vout as u32))
                .is_some()
        });
        if confirmed {
            return Err(Rejection::new(
                codes::TRANSACTION_ALREADY_IN_CHAIN,
                "Transaction outputs already in utxo set",
            ));
        }
        if self.mempool.contains(&txid) {
            return Ok(txid);
        }
        let admission = accept::check(&self.chain, &self.mempool, Arc::new(tx), now, false)?;
        if max_fee_per_kvb > 0 && admission.entry.fee > fee_at(max_fee_per_kvb, admission.entry.vsize) {
            return Err(Rejection::new(
                codes::TRANSACTION_ERROR,
                "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
            ));
        }
        for evicted in &admission.replaces {
            self.mempool.remove(evicted);
        }
        self.mempool.insert(admission.entry);
        self.sync_mempool()?;
        Ok(txid)
    }

    /// `testmempoolaccept`: each transaction judged after the ones before it (a package
    /// of parents then children); nothing changes.
    pub fn test_accept(&self, txs: Vec<Transaction>, now: u64, max_fee_per_kvb: u64) -> Vec<AcceptVerdict> {
        let mut pool = self.mempool.clone();
        txs.into_iter()
            .map(|tx| {
                let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
                let result =
                    accept::check(&self.chain, &pool, Arc::new(tx), now, false).and_then(|admission| {
                        let (vsize, fee) = (admission.entry.vsize, admission.entry.fee);
                        if max_fee_per_kvb > 0 && fee > fee_at(max_fee_per_kvb, vsize) {
                            return Err(Rejection::new(codes::TRANSACTION_REJECTED, MAX_FEE_EXCEEDED));
                        }
                        for evicted in &admission.replaces {
                            pool.remove(evicted);
                        }
                        pool.insert(admission.entry);
                        Ok((vsize, fee))
                    });
                AcceptVerdict { txid, wtxid, result }
            })
            .collect()
    }

    /// Mines `count` blocks paying `payout`, each with the best mempool transactions when
    /// `with_mempool` (otherwise coinbase only). Block times are `now`, or just past the
    /// median time past when blocks come faster than the clock.
    pub fn mine(
        &mut self,
        count: u32,
        payout: &ScriptBuf,
        now: u64,
        with_mempool: bool,
    ) -> Result<Vec<BlockHash>, Rejection> {
        let mut hashes = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let txs = if with_mempool {
                self.mempool.block_template(MAX_BLOCK_WEIGHT - COINBASE_RESERVE)
            } else {
                Vec::new()
            };
            let fees = txs
                .iter()
                .filter_map(|t| self.mempool.get(&t.compute_txid()))
                .map(|e| e.fee)
                .sum();
            let parent = Parent {
                hash: self.chain.tip_hash(),
                height: self.chain.height(),
                median_time_past: self.chain.tip_mtp(),
            };
            let mut time = clamp_time(now);
            let mut block = build_block(parent, &txs, fees, payout, time);
            // After invalidateblock, the same coinbase and transactions in the same second
            // would rebuild the invalidated block itself: move the timestamp on instead.
            while self.chain.block(&block.block_hash()).is_some() {
                time = block.header.time.saturating_add(1);
                block = build_block(parent, &txs, fees, payout, time);
            }
            hashes.push(self.accept_block(block, now)?);
        }
        Ok(hashes)
    }

    /// Stores, adds and connects a block; it must become the new tip.
    fn accept_block(&mut self, block: bitcoin::Block, now: u64) -> Result<BlockHash, Rejection> {
        if let Some(store) = &self.store {
            store.add_block(&block).map_err(storage_error)?;
        }
        let hash = self.chain.add_block(block)?;
        let change = self.chain.activate_best_chain();
        self.apply(change, now)?;
        if !self.chain.is_active(&hash) {
            let reason = self.chain.failure(&hash).unwrap_or("not on the best chain");
            return Err(Rejection::new(
                -32603,
                format!("ProcessNewBlock, block not accepted: {reason}"),
            ));
        }
        Ok(hash)
    }

    pub fn invalidate(&mut self, hash: &BlockHash, now: u64) -> Result<ChainChange, Rejection> {
        if let Some(store) = &self.store {
            if self.chain.block(hash).is_some() {
                store.set_invalidated(hash, true).map_err(storage_error)?;
            }
        }
        let change = self.chain.invalidate(hash)?;
        let summary = ChainChange {
            disconnected: change.disconnected.clone(),
            connected: change.connected.clone(),
        };
        self.apply(change, now)?;
        Ok(summary)
    }

    pub fn reconsider(&mut self, hash: &BlockHash, now: u64) -> Result<(), Rejection> {
        let (cleared, change) = self.chain.reconsider(hash)?;
        if let Some(store) = &self.store {
            for cleared in &cleared {
                store.set_invalidated(cleared, false).map_err(storage_error)?;
            }
        }
        self.apply(change, now)
    }

    /// simnet only: replaces the top `depth` blocks by `new_blocks` blocks holding only a
    /// coinbase (paying `payout`), so the transactions of the replaced blocks are
    /// unconfirmed again (back in the mempool when still valid). The replaced blocks stay
    /// invalidated, as after `invalidateblock`; `reconsiderblock` brings them back.
    pub fn reorg(
        &mut self,
        depth: u32,
        new_blocks: u32,
        payout: &ScriptBuf,
        now: u64,
    ) -> Result<Reorg, Rejection> {
        let height = self.chain.height();
        if depth == 0 || depth > height {
            return Err(Rejection::new(
                codes::INVALID_PARAMETER,
                format!("simnet_reorg: depth must be between 1 and the chain height ({height})"),
            ));
        }
        let first = self
            .chain
            .hash_at(height - depth + 1)
            .ok_or_else(|| Rejection::new(codes::INVALID_PARAMETER, "no such block"))?;
        let change = self.invalidate(&first, now)?;
        let disconnected = change.disconnected.iter().map(|b| b.block_hash()).collect();
        let connected = self.mine(new_blocks, payout, now, false)?;
        Ok(Reorg {
            disconnected,
            connected,
        })
    }

    /// Brings the mempool in line with a change of the active chain. When blocks were only
    /// added, their transactions and conflicts leave; when blocks were disconnected, the
    /// mempool is rebuilt: the disconnected blocks' transactions (oldest first, whatever
    /// their fee, as Core does) then the previous mempool, each only if still valid.
    fn apply(&mut self, change: ChainChange, now: u64) -> Result<(), Rejection> {
        if change.disconnected.is_empty() {
            for block in &change.connected {
                self.mempool.remove_for_block(&block.txdata);
            }
        } else {
            let previous = self.mempool.take_all();
            for block in change.disconnected.iter().rev() {
                for tx in block.txdata.iter().skip(1) {
                    let _ = self.admit(Arc::new(tx.clone()), now, true);
                }
            }
            for entry in previous {
                let _ = self.admit(entry.tx, now, false);
            }
        }
        self.sync_mempool()
    }

    fn sync_mempool(&mut self) -> Result<(), Rejection> {
        self.write_mempool().map_err(storage_error)
    }

    fn write_mempool(&mut self) -> Result<(), StoreError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let current = stored_txids(&self.mempool);
        let removed: Vec<Txid> = self.stored_mempool.difference(&current).copied().collect();
        let added: Vec<(Txid, &Transaction)> = self
            .mempool
            .in_order()
            .filter(|e| !self.stored_mempool.contains(&e.txid))
            .map(|e| (e.txid, e.tx.as_ref()))
            .collect();
        if removed.is_empty() && added.is_empty() {
            return Ok(());
        }
        store.update_mempool(&added, &removed)?;
        self.stored_mempool = current;
        Ok(())
    }
}

fn stored_txids(pool: &Mempool) -> HashSet<Txid> {
    pool.in_order().map(|e| e.txid).collect()
}

/// Block headers hold 32-bit times.
fn clamp_time(now: u64) -> u32 {
    u32::try_from(now).unwrap_or(u32::MAX)
}
