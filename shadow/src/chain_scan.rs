//! What the shadow's own node shows: every output paying a deposit address, read block
//! by block from the deposit wallet's birth to the tip, and which of them are spent.
//! Only outgoing JSON-RPC calls (the coordinator's Core client).

use std::collections::BTreeMap;

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use sluice_coordinator::chain::{CoreRpcClient, RpcError};
use sluice_shared::descriptor::{Branch, WalletDescriptor};

use crate::crosscheck::ChainDeposit;

/// One deposit output the node shows, with what a sweep needs to spend it.
#[derive(Debug, Clone)]
pub struct ChainCoin {
    pub deposit: ChainDeposit,
    /// The transaction that made it (a segwit v0 input's `non_witness_utxo`).
    pub funding: Transaction,
    /// The confirmed transaction spending it, if any.
    pub spent_by: Option<Txid>,
}

/// The node's view of the deposit wallet.
#[derive(Debug, Clone)]
pub struct ChainView {
    pub tip_height: u32,
    pub coins: Vec<ChainCoin>,
}

impl ChainView {
    pub fn deposits(&self) -> Vec<ChainDeposit> {
        self.coins.iter().map(|c| c.deposit.clone()).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the node: {0}")]
    Rpc(#[from] RpcError),
    #[error("deriving deposit address {index}: {reason}")]
    Derive { index: u32, reason: String },
}

/// Scans `from_height..=tip` for outputs to receive indices `0..watch`.
pub async fn scan(
    node: &CoreRpcClient,
    descriptor: &WalletDescriptor,
    watch: u32,
    from_height: u32,
) -> Result<ChainView, ScanError> {
    let mut scripts: BTreeMap<ScriptBuf, u32> = BTreeMap::new();
    for index in 0..watch {
        let script = descriptor
            .script_pubkey(Branch::Receive, index)
            .map_err(|e| ScanError::Derive {
                index,
                reason: e.to_string(),
            })?;
        scripts.insert(script, index);
    }
    let tip_height = node.get_block_count().await?;
    let mut coins: BTreeMap<OutPoint, (ChainCoin, u32)> = BTreeMap::new();
    for height in from_height..=tip_height {
        let hash = node.get_block_hash(height).await?;
        let block = node.get_block(&hash).await?;
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            for input in &tx.input {
                if let Some((coin, _)) = coins.get_mut(&input.previous_output) {
                    coin.spent_by = Some(txid);
                }
            }
            for (vout, output) in tx.output.iter().enumerate() {
                let Some(index) = scripts.get(&output.script_pubkey) else {
                    continue;
                };
                let Ok(vout) = u32::try_from(vout) else { continue };
                let outpoint = OutPoint::new(txid, vout);
                let deposit = ChainDeposit {
                    outpoint,
                    index: *index,
                    amount: output.value,
                    confirmations: 0,
                };
                coins.insert(
                    outpoint,
                    (
                        ChainCoin {
                            deposit,
                            funding: tx.clone(),
                            spent_by: None,
                        },
                        height,
                    ),
                );
            }
        }
    }
    let coins = coins
        .into_values()
        .map(|(mut coin, height)| {
            coin.deposit.confirmations = tip_height.saturating_sub(height).saturating_add(1);
            coin
        })
        .collect();
    Ok(ChainView { tip_height, coins })
}

/// Total of the unspent coins among `coins`.
pub fn unspent_total(coins: &[ChainCoin]) -> Amount {
    coins
        .iter()
        .filter(|c| c.spent_by.is_none())
        .map(|c| c.deposit.amount)
        .sum()
}
