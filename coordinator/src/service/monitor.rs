//! The monitor's database side: apply blocks of the active chain one at a time (the
//! wallets' new coins, coins spent, our transactions' blocks), confirm transactions once
//! they are deep enough, and undo everything recorded above a fork when a reorg replaces
//! blocks. Each block, and each rollback, is one transaction: a monitor killed at any
//! moment has applied a block wholly or not at all, and applying it again is harmless.
//!
//! Coinbase outputs are not recorded as coins: a treasury wallet does not mine, and a
//! coinbase cannot be spent for 100 blocks, which coin selection does not model.

use bitcoin::{Block, BlockHash, OutPoint};
use sluice_shared::api::{EventKind, WithdrawalStatus};

use super::{Coordinator, ServiceError};
use crate::db::utxos::{self, ObservedCoin};
use crate::db::{broadcasts, chain_blocks, sessions, wallets, withdrawals, DbError};
use crate::time::UnixTime;

/// What applying one block found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedBlock {
    pub coins_received: usize,
    pub coins_spent: usize,
    /// Sessions whose transaction is in this block.
    pub our_transactions: Vec<u64>,
}

impl Coordinator {
    /// The highest block the monitor applied.
    pub fn monitor_tip(&mut self) -> Result<Option<(u32, BlockHash)>, ServiceError> {
        let tx = self.db.read()?;
        Ok(chain_blocks::tip(&tx)?)
    }

    pub fn monitor_block_at(&mut self, height: u32) -> Result<Option<BlockHash>, ServiceError> {
        let tx = self.db.read()?;
        Ok(chain_blocks::hash_at(&tx, height)?)
    }

    /// Applies `block` at `height`. It must extend the applied chain (the caller rolls
    /// back first on a reorg); a block already applied is skipped.
    pub fn apply_block(
        &mut self,
        height: u32,
        block: &Block,
        now: UnixTime,
    ) -> Result<AppliedBlock, ServiceError> {
        let hash = block.block_hash();
        let tx = self.db.write()?;
        if chain_blocks::hash_at(&tx, height)? == Some(hash) {
            return Ok(AppliedBlock::default());
        }
        if let Some((top, top_hash)) = chain_blocks::tip(&tx)? {
            if top + 1 != height || block.header.prev_blockhash != top_hash {
                return Err(ServiceError::Invalid(format!(
                    "block {hash} at height {height} does not extend the applied chain (tip {top} {top_hash}): roll back first"
                )));
            }
        }
        let mut applied = AppliedBlock::default();
        for transaction in &block.txdata {
            let txid = transaction.compute_txid();
            if !transaction.is_coinbase() {
                for input in &transaction.input {
                    if utxos::mark_spent(&tx, &input.previous_output, &txid)? {
                        applied.coins_spent += 1;
                    }
                }
                for (vout, output) in transaction.output.iter().enumerate() {
                    let Some((wallet, branch, index)) =
                        wallets::address_by_script(&tx, &output.script_pubkey)?
                    else {
                        continue;
                    };
                    let vout =
                        u32::try_from(vout).map_err(|_| DbError::Corrupt("output index".to_owned()))?;
                    utxos::record(
                        &tx,
                        &ObservedCoin {
                            wallet: &wallet,
                            prev_tx: transaction,
                            vout,
                            branch,
                            index,
                            block_height: Some(height),
                        },
                        now,
                    )?;
                    applied.coins_received += 1;
                    tracing::debug!(outpoint = %OutPoint { txid, vout }, wallet, "coin received");
                }
            }
            if let Some(session) = broadcasts::set_block(&tx, &txid, Some((height, &hash)))? {
                applied.our_transactions.push(session);
            }
        }
        chain_blocks::insert(&tx, height, &hash, now)?;
        tx.commit()?;
        Ok(applied)
    }

    /// Undoes what was recorded above `fork` (the last block both chains share): our
    /// transactions there go back to `broadcast` (the sender sends them again), coins
    /// first confirmed there become unconfirmed. Returns the sessions sent back.
    pub fn roll_back_to(
        &mut self,
        fork: u32,
        instance: &str,
        now: UnixTime,
    ) -> Result<Vec<u64>, ServiceError> {
        let tx = self.db.write()?;
        let mut reverted = Vec::new();
        for record in broadcasts::confirmed_from(&tx, fork + 1)? {
            broadcasts::set_block(&tx, &record.txid, None)?;
            if sessions::transition(&tx, record.session_id, "confirmed", "broadcast", now)? {
                let session = sessions::find(&tx, record.session_id)?
                    .ok_or_else(|| DbError::Corrupt(format!("session {}", record.session_id)))?;
                let note = format!(
                    "reorg: the block holding {} left the chain; waiting for it to confirm again",
                    record.txid
                );
                for (withdrawal, _) in &session.withdrawals {
                    withdrawals::set_status(
                        &tx,
                        *withdrawal,
                        WithdrawalStatus::Confirmed,
                        WithdrawalStatus::Broadcast,
                        now,
                    )?;
                    withdrawals::insert_event(
                        &tx,
                        *withdrawal,
                        EventKind::Broadcast,
                        instance,
                        Some(&note),
                        now,
                    )?;
                }
            }
            reverted.push(record.session_id);
        }
        utxos::unconfirm_from(&tx, fork + 1)?;
        chain_blocks::truncate_above(&tx, fork)?;
        tx.commit()?;
        Ok(reverted)
    }

    /// Confirms the sessions (and their withdrawals) whose transaction has at least
    /// `min_confirmations` with the chain's tip at `tip_height`.
    pub fn confirm_buried(
        &mut self,
        tip_height: u32,
        min_confirmations: u32,
        instance: &str,
        now: UnixTime,
    ) -> Result<Vec<u64>, ServiceError> {
        let Some(deep_enough) = (tip_height + 1).checked_sub(min_confirmations.max(1)) else {
            return Ok(Vec::new());
        };
        let tx = self.db.write()?;
        let mut confirmed = Vec::new();
        for id in broadcasts::buried_unconfirmed_sessions(&tx, deep_enough)? {
            if !sessions::transition(&tx, id, "broadcast", "confirmed", now)? {
                continue;
            }
            let session =
                sessions::find(&tx, id)?.ok_or_else(|| DbError::Corrupt(format!("session {id}")))?;
            let record =
                broadcasts::find(&tx, id)?.ok_or_else(|| DbError::Corrupt(format!("broadcast {id}")))?;
            let note = format!(
                "transaction {} at height {} ({} confirmations or more)",
                record.txid,
                record.block_height.unwrap_or_default(),
                min_confirmations.max(1)
            );
            for (withdrawal, _) in &session.withdrawals {
                withdrawals::set_status(
                    &tx,
                    *withdrawal,
                    WithdrawalStatus::Broadcast,
                    WithdrawalStatus::Confirmed,
                    now,
                )?;
                withdrawals::insert_event(
                    &tx,
                    *withdrawal,
                    EventKind::Confirmed,
                    instance,
                    Some(&note),
                    now,
                )?;
            }
            confirmed.push(id);
        }
        tx.commit()?;
        Ok(confirmed)
    }
}
