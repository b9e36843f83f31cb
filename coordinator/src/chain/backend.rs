//! [`ChainBackend`]: exactly what the monitor and the sender need from a chain, so they
//! work against Bitcoin Core, simnet (through the same client) or a test double alike.

use std::future::Future;
use std::pin::Pin;

use bitcoin::{Block, BlockHash, FeeRate, Transaction, Txid};

use super::reply::RpcError;
use super::rpc_client::CoreRpcClient;
use super::types::MempoolAccept;

/// A boxed future, so the trait can be used as `dyn ChainBackend` and its futures can be
/// spawned on a multi-threaded runtime.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RpcError>> + Send + 'a>>;

/// The tip of the active chain, read in one call so height and hash agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    pub height: u32,
    pub hash: BlockHash,
}

/// Where a transaction stands, as the node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// Neither in the mempool nor in the active chain (never seen, evicted, replaced, or
    /// spent by a conflict). On Bitcoin Core this needs `-txindex=1`: without it confirmed
    /// transactions also look unknown.
    Unknown,
    InMempool,
    Confirmed {
        block_hash: BlockHash,
        /// 1 when in the tip block.
        confirmations: u32,
    },
}

/// A broadcast that the node took (or had already taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// In the node's mempool now (also when it already was).
    InMempool(Txid),
    /// Already confirmed (Core's `-27`): nothing left to send.
    AlreadyInChain(Txid),
}

/// The mempool's verdict on a transaction, without broadcasting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptTest {
    Allowed,
    /// Core's reason (`reject-details` when the node gives it, else `reject-reason`).
    Rejected {
        reason: String,
    },
}

/// The chain operations the coordinator's monitor and sender use.
pub trait ChainBackend: Send + Sync {
    fn tip(&self) -> ChainFuture<'_, ChainTip>;

    /// The active chain's block at `height`, or `None` above the tip.
    fn block_hash_at(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>>;

    /// A block by hash, checked against its hash and merkle root.
    fn block<'a>(&'a self, hash: &'a BlockHash) -> ChainFuture<'a, Block>;

    /// Submits `tx`. A refusal is an [`RpcError`] with Core's code and reason
    /// (`is_rejected`, `is_missing_inputs`...).
    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, Broadcast>;

    fn tx_status<'a>(&'a self, txid: &'a Txid) -> ChainFuture<'a, TxStatus>;

    /// Would the mempool accept `tx` now?
    fn test_accept<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, AcceptTest>;

    /// A fee rate for confirmation within `target_blocks`, or `None` when the node has no
    /// estimate yet (a fresh regtest node, say): the caller falls back to its configured rate.
    fn fee_estimate(&self, target_blocks: u16) -> ChainFuture<'_, Option<FeeRate>>;

    /// The txids of every transaction in the node's mempool.
    fn mempool_txids(&self) -> ChainFuture<'_, Vec<Txid>>;

    /// A transaction of the mempool, or `None` when it is no longer there (mined,
    /// replaced or evicted since the txids were listed).
    fn mempool_transaction<'a>(&'a self, txid: &'a Txid) -> ChainFuture<'a, Option<Transaction>>;
}

impl ChainBackend for CoreRpcClient {
    fn tip(&self) -> ChainFuture<'_, ChainTip> {
        Box::pin(async move {
            let info = self.get_blockchain_info().await?;
            Ok(ChainTip {
                height: info.blocks,
                hash: info.bestblockhash,
            })
        })
    }

    fn block_hash_at(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>> {
        Box::pin(async move {
            match self.get_block_hash(height).await {
                Ok(hash) => Ok(Some(hash)),
                Err(e) if e.is_out_of_range() => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn block<'a>(&'a self, hash: &'a BlockHash) -> ChainFuture<'a, Block> {
        Box::pin(self.get_block(hash))
    }

    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, Broadcast> {
        Box::pin(async move {
            match self.send_raw_transaction(tx).await {
                Ok(txid) => Ok(Broadcast::InMempool(txid)),
                Err(e) if e.is_already_in_chain() => Ok(Broadcast::AlreadyInChain(tx.compute_txid())),
                Err(e) => Err(e),
            }
        })
    }

    fn tx_status<'a>(&'a self, txid: &'a Txid) -> ChainFuture<'a, TxStatus> {
        Box::pin(async move {
            match self.get_raw_transaction_verbose(txid).await {
                Ok(tx) => Ok(match tx.blockhash {
                    Some(block_hash) if tx.confirmations > 0 => TxStatus::Confirmed {
                        block_hash,
                        confirmations: tx.confirmations,
                    },
                    _ => TxStatus::InMempool,
                }),
                Err(e) if e.is_not_found() => Ok(TxStatus::Unknown),
                Err(e) => Err(e),
            }
        })
    }

    fn test_accept<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, AcceptTest> {
        Box::pin(async move {
            let results = self.test_mempool_accept(std::slice::from_ref(tx)).await?;
            let txid = tx.compute_txid();
            let result = results
                .into_iter()
                .find(|r| r.txid == txid)
                .ok_or_else(|| RpcError::Decode {
                    url: self.url().to_owned(),
                    method: "testmempoolaccept".to_owned(),
                    reason: format!("no verdict for {txid}"),
                })?;
            Ok(verdict(result))
        })
    }

    fn fee_estimate(&self, target_blocks: u16) -> ChainFuture<'_, Option<FeeRate>> {
        Box::pin(async move { Ok(self.estimate_smart_fee(target_blocks).await?.feerate) })
    }

    fn mempool_txids(&self) -> ChainFuture<'_, Vec<Txid>> {
        Box::pin(self.get_raw_mempool())
    }

    fn mempool_transaction<'a>(&'a self, txid: &'a Txid) -> ChainFuture<'a, Option<Transaction>> {
        Box::pin(async move {
            // Without -txindex, Core finds a transaction by txid only in its mempool: -5
            // means it left (or was never there), which is what `None` says.
            match self.get_raw_transaction(txid).await {
                Ok(tx) => Ok(Some(tx)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}

fn verdict(result: MempoolAccept) -> AcceptTest {
    if result.allowed {
        return AcceptTest::Allowed;
    }
    let reason = result
        .reject_details
        .or(result.reject_reason)
        .unwrap_or_else(|| "rejected without a reason".to_owned());
    AcceptTest::Rejected { reason }
}
