//! Stuck transactions: fee bumps and abandons (issue 9 item 6).
//!
//! A **fee bump** is a new signing session whose transaction spends exactly the inputs of
//! the session it replaces and pays exactly the same withdrawal outputs; only the change
//! is lower, by the fee increase. Every transaction of such a group spends all of the same
//! inputs, so at most one of them can ever confirm and a withdrawal is still paid once.
//! The group's coins stay reserved by its first session (the root). The withdrawals keep
//! their status (`broadcast`) while the bump is signed and sent; the monitor confirms
//! whichever transaction of the group confirms and marks the others `abandoned` with a
//! `replaced` event.
//!
//! An **abandon** gives a group up. Nothing returns to the queue at once: signatures may
//! exist, and any transaction of the group could still confirm. The monitor returns the
//! withdrawals to `approved` only when a confirmed transaction outside the group spends
//! the group's inputs, deep enough (the configured confirmations); if one of the group's
//! own transactions confirms instead, the withdrawals are paid and the abandon is moot.

use bitcoin::{Amount, Txid, Weight};
use serde_json::json;
use sluice_shared::api::{EventKind, WithdrawalStatus};
use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};

use super::wallets::descriptor_of;
use super::{require, require_current, Actor, Coordinator, ServiceError};
use crate::db::session_groups::{self, Replacement};
use crate::db::{audit, broadcasts, sessions, wallets, withdrawals, DbError};
use crate::rules::fee_bump::bump_fee;
use crate::rules::roles::Permission;
use crate::time::UnixTime;

/// Most characters in an abandon's reason.
const MAX_REASON: usize = 500;

/// A fee bump just opened for signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BumpSummary {
    pub session_id: u64,
    pub replaces: u64,
    pub root: u64,
    pub txid: Txid,
    pub old_fee: Amount,
    pub fee: Amount,
    pub change: Amount,
    pub vsize: u64,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Database(DbError::Corrupt(e.to_string()))
}

/// Whether any session of the group is still in `status`.
fn group_has(conn: &rusqlite::Connection, group: &[u64], status: &str) -> Result<Option<u64>, ServiceError> {
    for id in group {
        let session = sessions::find(conn, *id)?.ok_or_else(|| internal(format!("session {id}")))?;
        if session.status == status {
            return Ok(Some(*id));
        }
    }
    Ok(None)
}

impl Coordinator {
    /// Opens a fee bump of session `id` at `fee_rate` sat/vB (an approver decides and
    /// is recorded). `id` must be the newest sent transaction of its group, not in a
    /// block, with no other bump being signed and no abandon waiting.
    pub fn bump_session(
        &mut self,
        actor: &Actor,
        id: u64,
        fee_rate: u64,
        now: UnixTime,
    ) -> Result<BumpSummary, ServiceError> {
        require(actor, Permission::ApproveWithdrawal)?;
        let network = self.network();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::ApproveWithdrawal)?;
        let target =
            sessions::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
        let root = session_groups::root_of(&tx, id)?;
        let group = session_groups::group(&tx, root)?;
        if let Some(abandon) = session_groups::abandon_of(&tx, root)? {
            return Err(ServiceError::Conflict(format!(
                "session {id} belongs to session {root}'s group, which {} abandoned: it cannot be bumped",
                abandon.requested_by
            )));
        }
        if let Some(done) = group_has(&tx, &group, "confirmed")? {
            return Err(ServiceError::Conflict(format!(
                "session {done} of this group is confirmed: nothing to bump"
            )));
        }
        for status in ["open", "signed"] {
            if let Some(other) = group_has(&tx, &group, status)? {
                return Err(ServiceError::Conflict(format!(
                    "session {other} of this group is still {status}: wait until it is sent (or bump that one once it is)"
                )));
            }
        }
        if target.status != "broadcast" {
            return Err(ServiceError::Conflict(format!(
                "session {id} is {}: only a sent transaction (status broadcast) is bumped",
                target.status
            )));
        }
        if let Some(newer) = group.iter().copied().filter(|s| *s > id).max() {
            return Err(ServiceError::Conflict(format!(
                "session {id} was already replaced by session {newer}: bump the newest one"
            )));
        }
        let sent =
            broadcasts::find(&tx, id)?.ok_or_else(|| internal(format!("broadcast of session {id}")))?;
        if let Some(height) = sent.block_height {
            return Err(ServiceError::Conflict(format!(
                "session {id}'s transaction {} is in block {height}: it is not stuck",
                sent.txid
            )));
        }

        let wallet = wallets::find(&tx, &target.wallet)?
            .ok_or_else(|| ServiceError::UnknownWallet(target.wallet.clone()))?;
        let descriptor = descriptor_of(&wallet)?;
        let paid: Vec<u32> = target.withdrawals.iter().map(|(_, vout)| *vout).collect();
        let change_vout = (0..target.psbt.unsigned_tx.output.len())
            .filter_map(|v| u32::try_from(v).ok())
            .find(|v| !paid.contains(v));
        let change_script = change_vout
            .and_then(|v| usize::try_from(v).ok())
            .and_then(|v| target.psbt.unsigned_tx.output.get(v))
            .map(|o| o.script_pubkey.clone());
        // The signed size: the unsigned transaction, each input's largest satisfaction,
        // and the segwit marker and flag.
        let satisfy = descriptor.receive().max_weight_to_satisfy().map_err(internal)?;
        let inputs = u64::try_from(target.psbt.unsigned_tx.input.len()).map_err(internal)?;
        // `max_weight_to_satisfy` is over an unsatisfied segwit input, which already has
        // its one-byte empty witness count; the unsigned transaction has neither.
        let weight = target.psbt.unsigned_tx.weight()
            + Weight::from_wu(2)
            + Weight::from_wu((satisfy.to_wu() + 1).saturating_mul(inputs));
        let vsize = weight.to_vbytes_ceil();
        let dust = change_script
            .as_ref()
            .map_or(Amount::ZERO, |script| script.minimal_non_dust());
        let bumped = bump_fee(target.fee, target.change, vsize, fee_rate, dust)?;

        let mut psbt = target.psbt.clone();
        let change_index = change_vout
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| internal("no change output"))?;
        psbt.unsigned_tx.output[change_index].value = bumped.change;
        let inspected = inspect_psbt(
            &psbt,
            &descriptor,
            &InspectionPolicy {
                network,
                max_fee: Amount::MAX_MONEY,
                change_bound: ChangeIndexBound::with_default_gap(wallet.next_change_index.checked_sub(1)),
            },
        )
        .map_err(|e| internal(format!("the fee bump is a PSBT a signer would refuse: {e}")))?;
        let review = inspected.review();
        let original_external: Amount = target
            .withdrawals
            .iter()
            .filter_map(|(_, vout)| usize::try_from(*vout).ok())
            .filter_map(|v| target.psbt.unsigned_tx.output.get(v))
            .map(|o| o.value)
            .sum();
        if review.fee() != bumped.fee || review.total_external() != original_external {
            return Err(internal("the fee bump does not pay what its original pays"));
        }

        let session_id = sessions::insert(
            &tx,
            &target.wallet,
            &psbt,
            bumped.fee,
            Some(bumped.change),
            actor.name(),
            now,
        )?;
        session_groups::insert_replacement(
            &tx,
            &Replacement {
                session_id,
                replaces: id,
                root,
                fee_rate_sat_vb: fee_rate,
                approved_by: actor.name().to_owned(),
                approved_at: now,
            },
        )?;
        let txid = psbt.unsigned_tx.compute_txid();
        let note = format!(
            "fee bump approved by {}: session {session_id} (transaction {txid}, fee {} at {fee_rate} sat/vB) replaces session {id} (transaction {}, fee {})",
            actor.name(),
            bumped.fee,
            sent.txid,
            target.fee
        );
        for (withdrawal, vout) in &target.withdrawals {
            sessions::add_withdrawal(&tx, session_id, *withdrawal, *vout)?;
            withdrawals::insert_event(
                &tx,
                *withdrawal,
                EventKind::FeeBump,
                actor.name(),
                Some(&note),
                now,
            )?;
        }
        session_groups::insert_event(&tx, session_id, "fee_bump", actor.name(), &note, now)?;
        session_groups::insert_event(&tx, id, "fee_bump", actor.name(), &note, now)?;
        audit::record(
            &tx,
            actor.name(),
            "session bump",
            &id.to_string(),
            &json!({"bump_session": session_id, "txid": txid.to_string(), "fee_sat": bumped.fee.to_sat(), "fee_rate_sat_vb": fee_rate}),
            now,
        )?;
        tx.commit()?;
        Ok(BumpSummary {
            session_id,
            replaces: id,
            root,
            txid,
            old_fee: target.fee,
            fee: bumped.fee,
            change: bumped.change,
            vsize,
        })
    }

    /// Asks to abandon session `id`'s group (an approver decides and is recorded). The
    /// withdrawals stay where they are, their coins reserved, until the monitor sees a
    /// conflicting transaction confirm. Refused if a transaction of the group is confirmed
    /// or an abandon is already waiting or done.
    pub fn abandon_session(
        &mut self,
        actor: &Actor,
        id: u64,
        reason: &str,
        now: UnixTime,
    ) -> Result<u64, ServiceError> {
        require(actor, Permission::ApproveWithdrawal)?;
        super::check_name("abandon reason", reason, MAX_REASON)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::ApproveWithdrawal)?;
        sessions::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
        let root = session_groups::root_of(&tx, id)?;
        let group = session_groups::group(&tx, root)?;
        if let Some(abandon) = session_groups::abandon_of(&tx, root)? {
            return Err(ServiceError::Conflict(format!(
                "session {root}'s group was already abandoned by {} ({})",
                abandon.requested_by,
                abandon
                    .resolution
                    .as_deref()
                    .unwrap_or("waiting for a conflicting transaction to confirm")
            )));
        }
        if let Some(done) = group_has(&tx, &group, "confirmed")? {
            return Err(ServiceError::Conflict(format!(
                "session {done}'s transaction is confirmed: its withdrawals are paid, nothing to abandon"
            )));
        }
        let root_session = sessions::find(&tx, root)?.ok_or_else(|| internal(format!("session {root}")))?;
        if root_session.status == "abandoned" {
            return Err(ServiceError::Conflict(format!(
                "session {root} is already abandoned"
            )));
        }
        session_groups::insert_abandon(&tx, root, actor.name(), reason, now)?;
        let note = format!(
            "abandon of session {root} (and its fee bumps) requested by {}: {reason}; the withdrawals return to the queue only once a confirmed transaction spends its inputs instead",
            actor.name()
        );
        for (withdrawal, _) in &root_session.withdrawals {
            withdrawals::insert_event(
                &tx,
                *withdrawal,
                EventKind::AbandonRequested,
                actor.name(),
                Some(&note),
                now,
            )?;
        }
        session_groups::insert_event(&tx, root, "abandon_requested", actor.name(), &note, now)?;
        audit::record(
            &tx,
            actor.name(),
            "session abandon",
            &root.to_string(),
            &json!({"reason": reason}),
            now,
        )?;
        tx.commit()?;
        Ok(root)
    }

    /// A session's own history: bumps, replacement, abandon (any staff member).
    pub fn session_events(
        &mut self,
        actor: &Actor,
        id: u64,
    ) -> Result<Vec<session_groups::SessionEvent>, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        sessions::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
        Ok(session_groups::events(&tx, id)?)
    }
}

/// Moves a withdrawal back to `approved` from wherever its abandoned session left it.
pub(super) fn return_to_queue(
    conn: &rusqlite::Connection,
    withdrawal: u64,
    actor: &str,
    note: &str,
    now: UnixTime,
) -> Result<(), ServiceError> {
    let record =
        withdrawals::find(conn, withdrawal)?.ok_or_else(|| internal(format!("withdrawal {withdrawal}")))?;
    if matches!(
        record.status,
        WithdrawalStatus::Signing | WithdrawalStatus::Signed | WithdrawalStatus::Broadcast
    ) {
        withdrawals::set_status(conn, withdrawal, record.status, WithdrawalStatus::Approved, now)?;
        withdrawals::insert_event(conn, withdrawal, EventKind::Returned, actor, Some(note), now)?;
    }
    Ok(())
}
