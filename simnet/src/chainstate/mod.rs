//! The block tree and the active chain: every block simnet knows (forks included), which
//! chain is best (most work, then first seen, skipping invalid blocks), the UTXO set with
//! undo data so blocks can be disconnected, and a transaction index of the active chain.
//! Connecting a block checks every consensus rule regtest enforces, scripts included,
//! through Bitcoin Core's interpreter (`connect`). Pure state: no clock, no I/O.

mod connect;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::{Block, BlockHash, Network, OutPoint, Transaction, TxOut, Txid};

use super::rules::{self, Rejection};
use sluice_shared::rpc_codes as codes;

/// An unspent output and where it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    pub out: TxOut,
    pub height: u32,
    pub coinbase: bool,
}

#[derive(Debug)]
struct BlockEntry {
    block: Arc<Block>,
    height: u32,
    /// Arrival order: among chains of equal work the one seen first wins, as in Core.
    seq: u64,
    /// Median time past of this block and its ten ancestors.
    mtp: u32,
    /// Connected at least once, so every rule was checked.
    validated: bool,
}

/// What a change of the active chain did, oldest block first in each list.
#[derive(Debug, Default)]
pub struct ChainChange {
    pub disconnected: Vec<Arc<Block>>,
    pub connected: Vec<Arc<Block>>,
}

impl ChainChange {
    fn extend(&mut self, other: ChainChange) {
        self.disconnected.extend(other.disconnected);
        self.connected.extend(other.connected);
    }
}

/// One tip of the block tree, for `getchaintips`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTipInfo {
    pub hash: BlockHash,
    pub height: u32,
    pub branch_len: u32,
    pub status: &'static str,
}

#[derive(Debug)]
pub struct ChainState {
    entries: HashMap<BlockHash, BlockEntry>,
    /// Blocks without children.
    leaves: HashSet<BlockHash>,
    /// The active chain by height.
    active: Vec<BlockHash>,
    utxos: HashMap<OutPoint, Coin>,
    /// Per block, per non-coinbase transaction, the coins its inputs spent.
    undo: HashMap<BlockHash, Vec<Vec<Coin>>>,
    /// Where each transaction of the active chain is: block and position.
    tx_index: HashMap<Txid, (BlockHash, usize)>,
    /// Blocks that failed validation or were invalidated by hand (their descendants are
    /// invalid by inheritance), with the reason.
    failed: HashMap<BlockHash, String>,
    next_seq: u64,
    stored_bytes: u64,
}

impl Default for ChainState {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainState {
    /// The regtest genesis block alone. Its coinbase is unspendable, as in Bitcoin.
    pub fn new() -> ChainState {
        let genesis = genesis_block(Network::Regtest);
        let hash = genesis.block_hash();
        let mut state = ChainState {
            entries: HashMap::new(),
            leaves: HashSet::from([hash]),
            active: vec![hash],
            utxos: HashMap::new(),
            undo: HashMap::new(),
            tx_index: HashMap::new(),
            failed: HashMap::new(),
            next_seq: 1,
            stored_bytes: genesis.total_size() as u64,
        };
        state.tx_index.insert(genesis.txdata[0].compute_txid(), (hash, 0));
        let mtp = genesis.header.time;
        state.entries.insert(
            hash,
            BlockEntry {
                block: Arc::new(genesis),
                height: 0,
                seq: 0,
                mtp,
                validated: true,
            },
        );
        state
    }

    pub fn height(&self) -> u32 {
        (self.active.len() - 1) as u32
    }

    pub fn tip_hash(&self) -> BlockHash {
        self.active[self.active.len() - 1]
    }

    pub fn tip(&self) -> &Arc<Block> {
        &self.entries[&self.tip_hash()].block
    }

    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// Median time past of the active chain's block at `height` (the tip's above it).
    pub fn mtp_at(&self, height: u32) -> u32 {
        let hash = self.hash_at(height).unwrap_or_else(|| self.tip_hash());
        self.entries[&hash].mtp
    }

    pub fn tip_mtp(&self) -> u32 {
        self.mtp_at(self.height())
    }

    /// A known block (active or not), its height, and whether it is on the active chain.
    pub fn block(&self, hash: &BlockHash) -> Option<(&Arc<Block>, u32, bool)> {
        let entry = self.entries.get(hash)?;
        Some((&entry.block, entry.height, self.is_active(hash)))
    }

    pub fn block_mtp(&self, hash: &BlockHash) -> Option<u32> {
        self.entries.get(hash).map(|e| e.mtp)
    }

    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.entries
            .get(hash)
            .is_some_and(|e| self.active.get(e.height as usize) == Some(hash))
    }

    /// Core's `confirmations` of a block: -1 when it is not on the active chain.
    pub fn confirmations(&self, hash: &BlockHash) -> i64 {
        match self.entries.get(hash) {
            Some(e) if self.is_active(hash) => i64::from(self.height() - e.height) + 1,
            _ => -1,
        }
    }

    pub fn coin(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxos.get(outpoint)
    }

    pub fn utxos(&self) -> impl Iterator<Item = (&OutPoint, &Coin)> {
        self.utxos.iter()
    }

    pub fn utxo_count(&self) -> usize {
        self.utxos.len()
    }

    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// A transaction of the active chain and the hash of its block.
    pub fn transaction(&self, txid: &Txid) -> Option<(&Transaction, BlockHash)> {
        let (hash, index) = self.tx_index.get(txid)?;
        let tx = self.entries.get(hash)?.block.txdata.get(*index)?;
        Some((tx, *hash))
    }

    /// The coins a block's transactions spent (not for the coinbase), once it was connected.
    pub fn spent_coins(&self, hash: &BlockHash) -> Option<&[Vec<Coin>]> {
        self.undo.get(hash).map(Vec::as_slice)
    }

    /// The height of the highest known block not known to be invalid (`headers`).
    pub fn best_header_height(&self) -> u32 {
        self.leaves
            .iter()
            .filter_map(|leaf| self.best_valid_on_branch(leaf))
            .map(|hash| self.entries[&hash].height)
            .max()
            .unwrap_or(0)
            .max(self.height())
    }

    /// Stores a block in the tree after the checks that need no chain context. It joins
    /// the active chain at the next [`activate_best_chain`](Self::activate_best_chain).
    pub fn add_block(&mut self, block: Block) -> Result<BlockHash, Rejection> {
        let hash = block.block_hash();
        let invalid = |reason: &str| Rejection::new(codes::MISC_ERROR, reason);
        if self.entries.contains_key(&hash) {
            return Err(invalid("duplicate"));
        }
        let parent = block.header.prev_blockhash;
        let Some(parent_entry) = self.entries.get(&parent) else {
            return Err(invalid("prev-blk-not-found"));
        };
        if self.has_failed_ancestry(&parent) {
            return Err(invalid("bad-prevblk"));
        }
        rules::check_block(&block).map_err(invalid)?;
        let height = parent_entry.height + 1;
        let mut times = vec![block.header.time];
        let mut cursor = parent;
        while times.len() < 11 {
            let Some(entry) = self.entries.get(&cursor) else {
                break;
            };
            times.push(entry.block.header.time);
            if entry.height == 0 {
                break;
            }
            cursor = entry.block.header.prev_blockhash;
        }
        self.stored_bytes += block.total_size() as u64;
        self.leaves.remove(&parent);
        self.leaves.insert(hash);
        self.entries.insert(
            hash,
            BlockEntry {
                block: Arc::new(block),
                height,
                seq: self.next_seq,
                mtp: rules::median_time(times),
                validated: false,
            },
        );
        self.next_seq += 1;
        Ok(hash)
    }

    /// Why a block was found invalid, if it was.
    pub fn failure(&self, hash: &BlockHash) -> Option<&str> {
        self.failed.get(hash).map(String::as_str)
    }

    fn parent(&self, hash: &BlockHash) -> BlockHash {
        self.entries[hash].block.header.prev_blockhash
    }

    /// Is `hash` or one of its ancestors marked failed?
    fn has_failed_ancestry(&self, hash: &BlockHash) -> bool {
        let mut cursor = *hash;
        loop {
            if self.failed.contains_key(&cursor) {
                return true;
            }
            if self.is_active(&cursor) {
                // The active chain holds no failed block.
                return false;
            }
            cursor = self.parent(&cursor);
        }
    }

    /// The blocks from `hash` down to (not including) the active chain, highest first.
    fn branch(&self, hash: &BlockHash) -> Vec<BlockHash> {
        let mut path = Vec::new();
        let mut cursor = *hash;
        while !self.is_active(&cursor) {
            path.push(cursor);
            cursor = self.parent(&cursor);
        }
        path
    }

    /// The highest block of `leaf`'s branch below its lowest failed block.
    fn best_valid_on_branch(&self, leaf: &BlockHash) -> Option<BlockHash> {
        let branch = self.branch(leaf);
        let mut best = None;
        for hash in branch.iter().rev() {
            if self.failed.contains_key(hash) {
                break;
            }
            best = Some(*hash);
        }
        best
    }

    /// Most work first (all regtest blocks weigh the same, so the highest), then the one
    /// seen first.
    fn best_candidate(&self) -> BlockHash {
        let rank = |hash: &BlockHash| {
            let e = &self.entries[hash];
            (e.height, std::cmp::Reverse(e.seq))
        };
        let mut best = self.tip_hash();
        for leaf in &self.leaves {
            if let Some(candidate) = self.best_valid_on_branch(leaf) {
                if rank(&candidate) > rank(&best) {
                    best = candidate;
                }
            }
        }
        best
    }

    /// Moves the active chain to the best valid chain, validating each block it connects;
    /// a block that fails is marked invalid and the next best chain is tried.
    pub fn activate_best_chain(&mut self) -> ChainChange {
        let mut change = ChainChange::default();
        loop {
            let best = self.best_candidate();
            if best == self.tip_hash() {
                return change;
            }
            let branch = self.branch(&best);
            let fork_height = self.entries[&best].height - branch.len() as u32;
            while self.height() > fork_height {
                change.disconnected.push(self.disconnect_tip());
            }
            for hash in branch.into_iter().rev() {
                match self.connect(&hash) {
                    Ok(block) => change.connected.push(block),
                    Err(reason) => {
                        self.failed.insert(hash, reason);
                        break;
                    }
                }
            }
        }
    }

    /// `invalidateblock`: marks `hash` invalid, disconnects it (and what follows) if it is
    /// on the active chain, and moves to the best remaining chain.
    pub fn invalidate(&mut self, hash: &BlockHash) -> Result<ChainChange, Rejection> {
        let entry = self
            .entries
            .get(hash)
            .ok_or_else(|| Rejection::new(codes::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
        if entry.height == 0 {
            return Err(Rejection::new(
                codes::INVALID_PARAMETER,
                "simnet cannot invalidate the genesis block",
            ));
        }
        let height = entry.height;
        let mut change = ChainChange::default();
        if self.is_active(hash) {
            while self.height() >= height {
                change.disconnected.push(self.disconnect_tip());
            }
        }
        self.failed
            .insert(*hash, "invalidated by invalidateblock".to_owned());
        change.extend(self.activate_best_chain());
        Ok(change)
    }

    /// `reconsiderblock`: clears the invalid marks of `hash`, its ancestors and its
    /// descendants, then moves to the best chain. Returns the blocks cleared.
    pub fn reconsider(&mut self, hash: &BlockHash) -> Result<(Vec<BlockHash>, ChainChange), Rejection> {
        if !self.entries.contains_key(hash) {
            return Err(Rejection::new(codes::INVALID_ADDRESS_OR_KEY, "Block not found"));
        }
        let cleared: Vec<BlockHash> = self
            .failed
            .keys()
            .filter(|f| *f == hash || self.is_ancestor(f, hash) || self.is_ancestor(hash, f))
            .copied()
            .collect();
        for f in &cleared {
            self.failed.remove(f);
        }
        Ok((cleared, self.activate_best_chain()))
    }

    /// Is `ancestor` on the way from `hash` to genesis (and not `hash` itself)?
    fn is_ancestor(&self, ancestor: &BlockHash, hash: &BlockHash) -> bool {
        let Some(target) = self.entries.get(ancestor) else {
            return false;
        };
        let mut cursor = *hash;
        while let Some(entry) = self.entries.get(&cursor) {
            if entry.height <= target.height {
                return false;
            }
            cursor = entry.block.header.prev_blockhash;
            if cursor == *ancestor {
                return true;
            }
        }
        false
    }

    /// Every leaf of the block tree, as `getchaintips` lists them.
    pub fn chain_tips(&self) -> Vec<ChainTipInfo> {
        let mut tips: Vec<ChainTipInfo> = self
            .leaves
            .iter()
            .map(|leaf| {
                let branch = self.branch(leaf);
                let status = if branch.is_empty() {
                    "active"
                } else if branch.iter().any(|h| self.failed.contains_key(h)) {
                    "invalid"
                } else if branch.iter().all(|h| self.entries[h].validated) {
                    "valid-fork"
                } else {
                    "valid-headers"
                };
                ChainTipInfo {
                    hash: *leaf,
                    height: self.entries[leaf].height,
                    branch_len: branch.len() as u32,
                    status,
                }
            })
            .collect();
        tips.sort_by_key(|t| (std::cmp::Reverse(t.height), t.hash));
        tips
    }
}
