//! One pass of the monitor over the chain, against any [`ChainBackend`] (Bitcoin Core's
//! JSON-RPC, simnet through the same client, or a test double): check that the last
//! applied block is still on the node's active chain, and if not find the last block both
//! share and roll back to it (our transactions above it go back to `broadcast`); then
//! apply the node's new blocks one at a time (coins received and spent, our transactions'
//! blocks); then confirm the sessions buried deep enough. The database side of each step
//! is in `monitor.rs`, one SQLite transaction per block or rollback, so a monitor stopped
//! at any moment resumes from the last block it stored.
//!
//! A reorg that replaces every block the monitor stored (deeper than its window, or a node
//! on another chain) is refused: the pass changes nothing and says so, every time, until
//! the node's chain holds one of those blocks again.
//!
//! The database calls run in `tokio::task::block_in_place`: call this on a multi-threaded
//! runtime.

use bitcoin::BlockHash;

use super::{Coordinator, ServiceError};
use crate::chain::{ChainBackend, RpcError};
use crate::clock;

/// How the monitor follows the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Confirmations after which a withdrawal is `confirmed`.
    pub min_confirmations: u32,
    /// The first block to apply when none is applied yet.
    pub start_height: u32,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorPass {
    /// Blocks applied in this pass.
    pub blocks_applied: u32,
    /// Sessions whose transaction left the chain in a reorg (back to `broadcast`).
    pub reverted: Vec<u64>,
    /// Sessions confirmed in this pass.
    pub confirmed: Vec<u64>,
}

impl MonitorPass {
    /// Whether the pass applied a block (the node may have more: pass again at once).
    pub fn busy(&self) -> bool {
        self.blocks_applied > 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Chain(#[from] RpcError),
    #[error(transparent)]
    Store(#[from] ServiceError),
    #[error(
        "the chain node's active chain holds none of the blocks the monitor applied (heights {lowest} to {highest}, \
         block {highest_hash} on top): either a reorg replaced all of them or the node follows another chain. \
         The monitor changes nothing until the node's chain holds one of those blocks again: check that the node \
         is the one the monitor followed before (--chain-url) and that it is in sync"
    )]
    NoCommonAncestor {
        lowest: u32,
        highest: u32,
        highest_hash: BlockHash,
    },
}

/// Where the applied chain and the node's part.
enum ForkPoint {
    /// The highest applied block still on the node's chain.
    Shared(u32),
    /// None of the applied blocks (the lowest at this height) is on the node's chain.
    NoneShared { lowest: u32 },
}

/// Walks down from `height` (the applied tip) through the applied blocks to the last one
/// the node's chain holds too.
async fn fork_point(
    coord: &mut Coordinator,
    chain: &dyn ChainBackend,
    height: u32,
) -> Result<ForkPoint, MonitorError> {
    let mut h = height;
    loop {
        let Some(ours) = tokio::task::block_in_place(|| coord.monitor_block_at(h))? else {
            // Below the first applied block: nothing more to compare.
            return Ok(ForkPoint::NoneShared { lowest: h + 1 });
        };
        if chain.block_hash_at(h).await? == Some(ours) {
            return Ok(ForkPoint::Shared(h));
        }
        match h.checked_sub(1) {
            Some(lower) => h = lower,
            None => return Ok(ForkPoint::NoneShared { lowest: 0 }),
        }
    }
}

/// One pass: roll back what a reorg replaced, apply the node's new blocks, confirm what
/// is buried deep enough.
pub async fn monitor_pass(
    coord: &mut Coordinator,
    chain: &dyn ChainBackend,
    settings: &MonitorSettings,
    instance: &str,
) -> Result<MonitorPass, MonitorError> {
    let mut pass = MonitorPass::default();
    let tip = chain.tip().await?;
    let mut next = match tokio::task::block_in_place(|| coord.monitor_tip())? {
        None => settings.start_height,
        Some((height, hash)) => {
            if chain.block_hash_at(height).await? == Some(hash) {
                height + 1
            } else {
                let keep = match fork_point(coord, chain, height).await? {
                    ForkPoint::Shared(fork) => fork,
                    ForkPoint::NoneShared { lowest } => {
                        return Err(MonitorError::NoCommonAncestor {
                            lowest,
                            highest: height,
                            highest_hash: hash,
                        })
                    }
                };
                pass.reverted =
                    tokio::task::block_in_place(|| coord.roll_back_to(keep, instance, clock::now()))?;
                tracing::warn!(
                    "reorg: blocks above height {keep} left the chain; {} transaction(s) go back to broadcast",
                    pass.reverted.len()
                );
                keep + 1
            }
        }
    };
    while next <= tip.height {
        let Some(hash) = chain.block_hash_at(next).await? else {
            break;
        };
        let block = chain.block(&hash).await?;
        let applied = tokio::task::block_in_place(|| coord.apply_block(next, &block, clock::now()))?;
        if applied.coins_received > 0 || applied.coins_spent > 0 || !applied.our_transactions.is_empty() {
            tracing::info!(
                height = next,
                "block {hash}: {} coin(s) received, {} spent, our transaction(s) for session(s) {:?}",
                applied.coins_received,
                applied.coins_spent,
                applied.our_transactions
            );
        }
        next += 1;
        pass.blocks_applied += 1;
    }
    pass.confirmed = tokio::task::block_in_place(|| {
        coord.confirm_buried(tip.height, settings.min_confirmations, instance, clock::now())
    })?;
    for id in &pass.confirmed {
        tracing::info!(session = id, "confirmed");
    }
    Ok(pass)
}
