//! The monitor's database side: apply blocks of the active chain one at a time (the
//! wallets' new coins, coins spent, our transactions' blocks), confirm transactions once
//! they are deep enough, and undo everything recorded above a fork when a reorg replaces
//! blocks. Each block, and each rollback, is one transaction: a monitor killed at any
//! moment has applied a block wholly or not at all, and applying it again is harmless.
//!
//! Coinbase outputs are not recorded as coins: a treasury wallet does not mine, and a
//! coinbase cannot be spent for 100 blocks, which coin selection does not model.

use bitcoin::{Block, BlockHash, OutPoint, Txid};
use rusqlite::Connection;
use sluice_shared::api::{EventKind, WithdrawalStatus};

use super::{deposit_monitor, stuck, sweep_watch, Coordinator, ServiceError};
use crate::db::utxos::{self, ObservedCoin};
use crate::db::{broadcasts, chain_blocks, session_groups, sessions, wallets, withdrawals, DbError};
use crate::time::UnixTime;

/// What applying one block found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedBlock {
    pub coins_received: usize,
    pub coins_spent: usize,
    /// Outputs paying deposit addresses (new or seen again).
    pub deposits_seen: usize,
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
        let network = self.network();
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
        let sweeps = sweep_watch::watch(&tx, network)?;
        for transaction in &block.txdata {
            let txid = transaction.compute_txid();
            if !transaction.is_coinbase() {
                for input in &transaction.input {
                    if utxos::mark_spent(&tx, &input.previous_output, &txid, height)? {
                        applied.coins_spent += 1;
                    }
                }
                for (vout, output) in transaction.output.iter().enumerate() {
                    let known = match wallets::address_by_script(&tx, &output.script_pubkey)? {
                        Some(known) => Some(known),
                        None => sweeps.claim(&tx, &output.script_pubkey, network, now)?,
                    };
                    let Some((wallet, branch, index)) = known else {
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
        applied.deposits_seen =
            deposit_monitor::apply_block_deposits(&tx, network, block, height, &hash, "monitor", now)?;
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
            restore_replaced(&tx, record.session_id, instance, now)?;
            reverted.push(record.session_id);
        }
        deposit_monitor::roll_back_deposits(&tx, fork, instance, now)?;
        utxos::unconfirm_from(&tx, fork + 1)?;
        // A spend that left the chain is undone: a conflicting spend that was not yet deep
        // enough to release an abandon no longer counts.
        utxos::unspend_from(&tx, fork + 1)?;
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
            let moot = settle_group(&tx, id, &record.txid, instance, now)?;
            let note = match moot {
                Some(by) => format!("{note}; the abandon {by} requested is moot: this transaction paid them"),
                None => note,
            };
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
        release_abandoned(&tx, deep_enough, instance, now)?;
        tx.commit()?;
        Ok(confirmed)
    }
}

/// Session `winner`'s transaction `txid` confirmed: the other sessions of its group can
/// never confirm (they spend the same inputs) and become `abandoned`, each with a
/// `replaced` event; a waiting abandon of the group is moot. Returns who requested it.
fn settle_group(
    conn: &Connection,
    winner: u64,
    txid: &Txid,
    instance: &str,
    now: UnixTime,
) -> Result<Option<String>, ServiceError> {
    let root = session_groups::root_of(conn, winner)?;
    for other in session_groups::group(conn, root)? {
        if other == winner {
            continue;
        }
        for from in ["open", "signed", "broadcast"] {
            if sessions::transition(conn, other, from, "abandoned", now)? {
                let note = format!("replaced: session {winner}'s transaction {txid} confirmed instead");
                session_groups::insert_event(conn, other, "replaced", instance, &note, now)?;
            }
        }
    }
    let waiting = session_groups::abandon_of(conn, root)?.filter(|a| a.resolution.is_none());
    let Some(abandon) = waiting else {
        return Ok(None);
    };
    session_groups::resolve_abandon(conn, root, "moot", &txid.to_string(), now)?;
    let note = format!(
        "the abandon {} requested is moot: session {winner}'s transaction {txid} confirmed and paid the withdrawals",
        abandon.requested_by
    );
    session_groups::insert_event(conn, root, "abandon_moot", instance, &note, now)?;
    Ok(Some(abandon.requested_by))
}

/// A reorg took session `reverted`'s transaction out of the chain: the sessions of its
/// group that were marked replaced and had been sent go back to `broadcast` (the sender
/// sends them again; whichever confirms wins).
fn restore_replaced(
    conn: &Connection,
    reverted: u64,
    instance: &str,
    now: UnixTime,
) -> Result<(), ServiceError> {
    let root = session_groups::root_of(conn, reverted)?;
    let group = session_groups::group(conn, root)?;
    if group.len() < 2 {
        return Ok(());
    }
    for other in group {
        if other == reverted || broadcasts::find(conn, other)?.is_none() {
            continue;
        }
        let replaced = session_groups::events(conn, other)?
            .iter()
            .any(|e| e.kind == "replaced");
        if replaced && sessions::transition(conn, other, "abandoned", "broadcast", now)? {
            let note = format!(
                "reorg: session {reverted}'s transaction left the chain; this one may confirm instead"
            );
            session_groups::insert_event(conn, other, "restored", instance, &note, now)?;
        }
    }
    Ok(())
}

/// Releases waiting abandons whose group's inputs a transaction outside the group spent
/// in a block at `deep_enough` or below: no transaction of the group can confirm any
/// more, so its withdrawals return to `approved` and its sessions become `abandoned`.
fn release_abandoned(
    conn: &Connection,
    deep_enough: u32,
    instance: &str,
    now: UnixTime,
) -> Result<(), ServiceError> {
    for abandon in session_groups::waiting_abandons(conn)? {
        let group = session_groups::group(conn, abandon.root)?;
        let mut own = Vec::new();
        for id in &group {
            let session =
                sessions::find(conn, *id)?.ok_or_else(|| DbError::Corrupt(format!("session {id}")))?;
            own.push(session.unsigned_txid);
        }
        let root = sessions::find(conn, abandon.root)?
            .ok_or_else(|| DbError::Corrupt(format!("session {}", abandon.root)))?;
        let mut conflict = None;
        for input in &root.psbt.unsigned_tx.input {
            if let Some((spender, height)) = utxos::spend_of(conn, &input.previous_output)? {
                if !own.contains(&spender) && height <= deep_enough {
                    conflict = Some((input.previous_output, spender, height));
                    break;
                }
            }
        }
        let Some((outpoint, spender, height)) = conflict else {
            continue;
        };
        session_groups::resolve_abandon(conn, abandon.root, "released", &spender.to_string(), now)?;
        let note = format!(
            "abandon of session {} (requested by {}) released: transaction {spender} at height {height} spent its input {outpoint}, so no transaction of the session can confirm",
            abandon.root, abandon.requested_by
        );
        for id in &group {
            for from in ["open", "signed", "broadcast"] {
                sessions::transition(conn, *id, from, "abandoned", now)?;
            }
        }
        session_groups::insert_event(conn, abandon.root, "abandon_released", instance, &note, now)?;
        for (withdrawal, _) in &root.withdrawals {
            stuck::return_to_queue(conn, *withdrawal, instance, &note, now)?;
        }
    }
    Ok(())
}
