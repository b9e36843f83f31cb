//! The sender's database side: turn a fully signed session into its final transaction
//! (stored signatures put back into the PSBT, finalized, every input checked with Bitcoin
//! Core's interpreter), record it, and keep track of sending it.
//!
//! Paid at most once: a session's unsigned transaction is fixed when it is opened (a
//! trigger refuses changes), and the only other sessions that pay the same withdrawals
//! are its fee bumps, which spend exactly the same inputs (`service::stuck`), so any two
//! transactions that can pay a withdrawal conflict; a withdrawal is batched again only
//! after a confirmed conflicting transaction spent its abandoned group's inputs. Recording happens in one
//! transaction with the `signed → broadcast` moves, claimed by compare-and-set, so two
//! senders never both record; both may send, which is harmless (the same transaction).

use bitcoin::{Transaction, Txid};
use rusqlite::Connection;
use sluice_shared::api::{EventKind, WithdrawalStatus};
use sluice_shared::finalize::finalize;

use super::{Coordinator, ServiceError};
use crate::db::broadcasts::{self, BroadcastRecord};
use crate::db::{chain_blocks, session_groups, sessions, signatures, utxos, withdrawals, DbError};
use crate::time::UnixTime;

/// What finalizing one session gave: its final transaction, `None` when another sender
/// got there first, or why it cannot be finalized (it stays `signed`).
pub type Finalized = Result<Option<FinalTransaction>, ServiceError>;

/// A session's final transaction, ready to send.
#[derive(Debug, Clone)]
pub struct FinalTransaction {
    pub session_id: u64,
    pub txid: Txid,
    pub tx: Transaction,
}

impl Coordinator {
    /// Sessions with every signature they need, oldest first; not those of a group being
    /// abandoned (the operator wants a conflicting transaction to win: nothing of the
    /// group is sent any more).
    pub fn signed_sessions(&mut self) -> Result<Vec<u64>, ServiceError> {
        let tx = self.db.read()?;
        let mut ready = Vec::new();
        for id in sessions::ids_with_status(&tx, "signed")? {
            if session_groups::abandon_of(&tx, session_groups::root_of(&tx, id)?)?.is_none() {
                ready.push(id);
            }
        }
        Ok(ready)
    }

    /// Finalizes session `id` and records its transaction, moving the session and its
    /// withdrawals to `broadcast`. `None` if another sender got there first. A session
    /// whose signatures do not make a valid transaction stays `signed` and the error says
    /// why: nothing is marked failed that might still be paid by this transaction.
    pub fn finalize_session(
        &mut self,
        id: u64,
        instance: &str,
        now: UnixTime,
    ) -> Result<Option<FinalTransaction>, ServiceError> {
        let tx = self.db.write()?;
        let finalized = finalize_in(&tx, id, instance, now)?;
        if finalized.is_some() {
            tx.commit()?;
        }
        Ok(finalized)
    }

    /// [`Coordinator::finalize_session`] for each of `ids` in turn, with one durable
    /// commit. Finalizing, and running Bitcoin Core's interpreter on every input, is the
    /// costly part and reads nothing that can change: a session's PSBT never changes (a
    /// trigger), its signatures are only ever added, and a valid final transaction stays
    /// valid whatever is added. So it runs on a read snapshot, outside the write turn
    /// that intake and the signers wait for. The write transaction then only claims each
    /// session by compare-and-set (`signed` → `broadcast`; `None` if another sender got
    /// there first) and records its transaction, each in its own savepoint: one that
    /// fails (its signatures do not make a valid transaction, say) stays `signed` and its
    /// error is returned in its place. Nothing may be sent before this returns `Ok`; an
    /// `Err` means nothing was recorded.
    pub fn finalize_sessions(
        &mut self,
        ids: &[u64],
        instance: &str,
        now: UnixTime,
    ) -> Result<Vec<(u64, Finalized)>, ServiceError> {
        let prepared: Vec<(u64, Result<Option<Prepared>, ServiceError>)> = {
            let tx = self.db.read()?;
            ids.iter().map(|&id| (id, final_transaction(&tx, id))).collect()
        };
        if !prepared.iter().any(|(_, p)| matches!(p, Ok(Some(_)))) {
            return Ok(prepared
                .into_iter()
                .map(|(id, p)| (id, p.map(|_| None)))
                .collect());
        }
        let mut tx = self.db.write()?;
        let mut outcomes = Vec::with_capacity(prepared.len());
        for (id, prepared) in prepared {
            let outcome = match prepared {
                Ok(Some(prepared)) => crate::db::in_savepoint(
                    &mut tx,
                    |conn| record_final(conn, prepared, instance, now),
                    |outcome| matches!(outcome, Ok(Some(_))),
                )?,
                other => other.map(|_| None),
            };
            outcomes.push((id, outcome));
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// Transactions not yet in a block and not sent since `resend_before`.
    pub fn transactions_to_send(
        &mut self,
        resend_before: UnixTime,
    ) -> Result<Vec<BroadcastRecord>, ServiceError> {
        let tx = self.db.read()?;
        Ok(broadcasts::due_for_sending(&tx, resend_before)?)
    }

    /// Notes attempts to send sessions' transactions (each with the node's error, if
    /// any), all in one write transaction.
    pub fn note_sends(
        &mut self,
        attempts: &[(u64, Option<String>)],
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        let tx = self.db.write()?;
        for (session_id, error) in attempts {
            broadcasts::note_attempt(&tx, *session_id, error.as_deref(), now)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Finalizes and records session `id` inside the caller's write transaction (the caller
/// commits when the result is `Ok(Some(_))`, and rolls back otherwise).
fn finalize_in(
    tx: &Connection,
    id: u64,
    instance: &str,
    now: UnixTime,
) -> Result<Option<FinalTransaction>, ServiceError> {
    match final_transaction(tx, id)? {
        Some(prepared) => record_final(tx, prepared, instance, now),
        None => Ok(None),
    }
}

/// A signed session's final transaction, not recorded yet.
#[derive(Debug)]
struct Prepared {
    session_id: u64,
    final_tx: Transaction,
    txid: Txid,
    /// The session's withdrawals (fixed when it was opened).
    withdrawals: Vec<u64>,
}

/// Session `id`'s final transaction: its stored signatures put into its PSBT, finalized,
/// every input checked by Bitcoin Core's interpreter (`finalize`). `None` if it is not
/// `signed`. Reads only; a snapshot is enough.
fn final_transaction(tx: &Connection, id: u64) -> Result<Option<Prepared>, ServiceError> {
    let session = sessions::find(tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
    if session.status != "signed" {
        return Ok(None);
    }
    let mut psbt = session.psbt;
    for sig in signatures::for_session(tx, id)? {
        let input = usize::try_from(sig.input_index)
            .ok()
            .and_then(|i| psbt.inputs.get_mut(i))
            .ok_or_else(|| DbError::Corrupt(format!("session {id}: signature for a missing input")))?;
        input.partial_sigs.insert(sig.pubkey, sig.signature);
    }
    let final_tx = finalize(&psbt).map_err(|e| {
        ServiceError::Invalid(format!(
            "session {id}: its signatures do not make a valid transaction ({e}); it stays signed, not sent"
        ))
    })?;
    let txid = final_tx.compute_txid();
    if txid != session.unsigned_txid {
        return Err(ServiceError::Invalid(format!(
            "session {id}: the finalized transaction {txid} is not the session's {}",
            session.unsigned_txid
        )));
    }
    Ok(Some(Prepared {
        session_id: id,
        final_tx,
        txid,
        withdrawals: session.withdrawals.iter().map(|(w, _)| *w).collect(),
    }))
}

/// Records a session's final transaction inside the caller's write transaction, if the
/// session is still `signed` (compare-and-set; `None` if another sender got there first)
/// and no abandon of its group was requested meanwhile (`None`: an approver asked that
/// nothing of the group be sent; `signed_sessions` leaves such sessions out, but it is
/// read before this transaction), and moves it and its withdrawals to `broadcast`.
fn record_final(
    tx: &Connection,
    prepared: Prepared,
    instance: &str,
    now: UnixTime,
) -> Result<Option<FinalTransaction>, ServiceError> {
    let Prepared {
        session_id: id,
        final_tx,
        txid,
        withdrawals,
    } = prepared;
    if session_groups::abandon_of(tx, session_groups::root_of(tx, id)?)?.is_some() {
        return Ok(None);
    }
    if !sessions::transition(tx, id, "signed", "broadcast", now)? {
        return Ok(None);
    }
    broadcasts::insert(tx, id, &final_tx, now)?;
    // Already in a block the monitor applied? A restored home signs again a transaction
    // its lost predecessor had sent and the chain confirmed after the backup; the
    // monitor applied that block before this broadcast existed (it recorded only the
    // coins' spend) and never looks at it again, so the session would wait forever.
    if let Some(input) = final_tx.input.first() {
        if let Some((spender, height)) = utxos::spend_of(tx, &input.previous_output)? {
            if spender == txid {
                if let Some(hash) = chain_blocks::hash_at(tx, height)? {
                    broadcasts::set_block(tx, &txid, Some((height, &hash)))?;
                }
            }
        }
    }
    let bump = session_groups::replacement_of(tx, id)?;
    let note = match &bump {
        Some(bump) => format!(
            "fee bump transaction {txid} (session {id}, replacing session {})",
            bump.replaces
        ),
        None => format!("transaction {txid}"),
    };
    for withdrawal in &withdrawals {
        if bump.is_some() {
            // Already `broadcast` with the original: the bump is noted, not a move.
            withdrawals::insert_event(tx, *withdrawal, EventKind::FeeBump, instance, Some(&note), now)?;
            continue;
        }
        withdrawals::set_status(
            tx,
            *withdrawal,
            WithdrawalStatus::Signed,
            WithdrawalStatus::Broadcast,
            now,
        )?;
        withdrawals::insert_event(tx, *withdrawal, EventKind::Broadcast, instance, Some(&note), now)?;
    }
    Ok(Some(FinalTransaction {
        session_id: id,
        txid,
        tx: final_tx,
    }))
}
