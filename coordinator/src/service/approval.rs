//! Approving and rejecting, and `settle`: the only code that moves a withdrawal into the
//! queue, and only when the wallet's policy is met by the approvals on record.

use rusqlite::Connection;
use sluice_shared::api::{EventKind, WithdrawalDetail, WithdrawalStatus};

use super::queries::load_detail;
use super::{require_current, Actor, Coordinator, ServiceError};
use crate::db::withdrawals::{self, WithdrawalRecord};
use crate::db::{customers, risk, staff, wallets, DbError};
use crate::rules::approval::{check_approve, check_cancel, check_reject, ApprovalTarget};
use crate::rules::intake::CustomerStatus;
use crate::rules::policy::{ApprovalFacts, PolicyState, RecordedApproval};
use crate::rules::roles::{Permission, Role};
use crate::time::UnixTime;

/// Whether the customer is active and the destination an active beneficiary of theirs.
fn compliance(conn: &Connection, record: &WithdrawalRecord) -> Result<(bool, bool), ServiceError> {
    let customer_active =
        customers::find(conn, &record.customer_id)?.is_some_and(|c| c.status == CustomerStatus::Active);
    let beneficiary_active = customers::find_beneficiary(conn, &record.customer_id, &record.destination)?
        .is_some_and(|b| b.active);
    Ok((customer_active, beneficiary_active))
}

/// The approvals on record that count now: the automatic rule's, and manual ones by staff
/// who are still active approvers. An approval by someone deactivated (or moved to
/// another role) since stops counting, so revoking a compromised approver also revokes
/// the approvals they left on pending withdrawals.
fn counting_approvals(conn: &Connection, id: u64) -> Result<Vec<RecordedApproval>, ServiceError> {
    let mut counting = Vec::new();
    for a in withdrawals::approvals(conn, id)? {
        let counts = match &a.approver {
            None => true,
            Some(name) => staff::find(conn, name)?.is_some_and(|s| s.active && s.role == Role::Approver),
        };
        if counts {
            counting.push(RecordedApproval {
                approver: a.approver,
                method: a.method,
            });
        }
    }
    Ok(counting)
}

/// Moves a pending withdrawal to `approved` if, and only if, its wallet's policy is met by
/// the approvals recorded in this transaction. Returns whether it did.
pub(super) fn settle(conn: &Connection, id: u64, now: UnixTime) -> Result<bool, ServiceError> {
    let record =
        withdrawals::find(conn, id)?.ok_or_else(|| ServiceError::NotFound(format!("withdrawal {id}")))?;
    if record.status != WithdrawalStatus::PendingApproval {
        return Ok(false);
    }
    let Some((state, wallet)) = policy_state(conn, &record)? else {
        return Ok(false);
    };
    match state {
        PolicyState::Satisfied(method) => {
            withdrawals::set_status(
                conn,
                id,
                WithdrawalStatus::PendingApproval,
                WithdrawalStatus::Approved,
                now,
            )?;
            let reason = format!("policy met ({}): {}", method.as_str(), wallet.policy.describe());
            withdrawals::insert_event(conn, id, EventKind::Approved, "policy", Some(&reason), now)?;
            Ok(true)
        }
        PolicyState::Pending { .. } | PolicyState::Unreachable(_) => Ok(false),
    }
}

/// Where a withdrawal stands against its wallet's policy now (`None` while its customer is
/// not active: nothing can approve it then). The one evaluation behind `settle` and the
/// M-of-N progress the console shows.
fn policy_state(
    conn: &Connection,
    record: &WithdrawalRecord,
) -> Result<Option<(PolicyState, wallets::WalletRecord)>, ServiceError> {
    let wallet = wallets::find(conn, &record.wallet)?.ok_or_else(|| {
        DbError::Corrupt(format!(
            "withdrawal {} names missing wallet {}",
            record.id, record.wallet
        ))
    })?;
    let (customer_active, beneficiary_active) = compliance(conn, record)?;
    if !customer_active {
        return Ok(None);
    }
    let approvals = counting_approvals(conn, record.id)?;
    let facts = ApprovalFacts {
        amount: record.amount,
        destination_registered: beneficiary_active,
        requester: &record.requested_by,
        approvals: &approvals,
        flagged: risk::is_flagged(conn, record.id)?,
    };
    let state = wallet.policy.evaluate(&facts);
    Ok(Some((state, wallet)))
}

fn target_parts(
    conn: &Connection,
    id: u64,
) -> Result<(WithdrawalRecord, Vec<String>, bool, bool), ServiceError> {
    let record =
        withdrawals::find(conn, id)?.ok_or_else(|| ServiceError::NotFound(format!("withdrawal {id}")))?;
    let approved_by = withdrawals::approvals(conn, id)?
        .into_iter()
        .filter_map(|a| a.approver)
        .collect();
    let (customer_active, beneficiary_active) = compliance(conn, &record)?;
    Ok((record, approved_by, customer_active, beneficiary_active))
}

impl Coordinator {
    /// A pending withdrawal's approval progress (e.g. `Pending { have: 1, need: 2 }`) and
    /// its wallet's policy in words; `None` when it is not pending or its customer is not
    /// active.
    pub fn approval_progress(
        &mut self,
        actor: &Actor,
        id: u64,
    ) -> Result<Option<(PolicyState, String)>, ServiceError> {
        super::require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        let record =
            withdrawals::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("withdrawal {id}")))?;
        if record.status != WithdrawalStatus::PendingApproval {
            return Ok(None);
        }
        Ok(policy_state(&tx, &record)?.map(|(state, wallet)| (state, wallet.policy.describe())))
    }

    /// Records `actor`'s approval; the withdrawal enters the queue if that meets the policy.
    pub fn approve(
        &mut self,
        actor: &Actor,
        id: u64,
        now: UnixTime,
    ) -> Result<WithdrawalDetail, ServiceError> {
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::ApproveWithdrawal)?;
        let (record, approved_by, customer_active, beneficiary_active) = target_parts(&tx, id)?;
        let target = ApprovalTarget {
            status: record.status,
            requested_by: &record.requested_by,
            approved_by: &approved_by,
            customer_active,
            beneficiary_active,
        };
        check_approve(actor.name(), actor.role(), &target)?;
        withdrawals::insert_approval(
            &tx,
            id,
            Some(actor.name()),
            sluice_shared::api::ApprovalMethod::Manual,
            None,
            now,
        )?;
        withdrawals::insert_event(&tx, id, EventKind::ApprovalRecorded, actor.name(), None, now)?;
        settle(&tx, id, now)?;
        let detail = load_detail(&tx, id)?;
        tx.commit()?;
        Ok(detail)
    }

    /// Rejects a pending withdrawal for good, with a reason kept in its history.
    pub fn reject(
        &mut self,
        actor: &Actor,
        id: u64,
        reason: &str,
        now: UnixTime,
    ) -> Result<WithdrawalDetail, ServiceError> {
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::ApproveWithdrawal)?;
        let (record, approved_by, customer_active, beneficiary_active) = target_parts(&tx, id)?;
        let target = ApprovalTarget {
            status: record.status,
            requested_by: &record.requested_by,
            approved_by: &approved_by,
            customer_active,
            beneficiary_active,
        };
        let reason = check_reject(actor.name(), actor.role(), &target, reason)?;
        withdrawals::set_status(
            &tx,
            id,
            WithdrawalStatus::PendingApproval,
            WithdrawalStatus::Rejected,
            now,
        )?;
        withdrawals::insert_event(&tx, id, EventKind::Rejected, actor.name(), Some(reason), now)?;
        let detail = load_detail(&tx, id)?;
        tx.commit()?;
        Ok(detail)
    }

    /// Cancels an approved withdrawal that no transaction pays yet: it becomes `failed`
    /// with the reason in its history (approver).
    pub fn cancel(
        &mut self,
        actor: &Actor,
        id: u64,
        reason: &str,
        now: UnixTime,
    ) -> Result<WithdrawalDetail, ServiceError> {
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::ApproveWithdrawal)?;
        let record =
            withdrawals::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("withdrawal {id}")))?;
        let reason = check_cancel(actor.role(), record.status, reason)?;
        withdrawals::set_status(&tx, id, WithdrawalStatus::Approved, WithdrawalStatus::Failed, now)?;
        let note = format!("cancelled by {}: {reason}", actor.name());
        withdrawals::insert_event(&tx, id, EventKind::Failed, actor.name(), Some(&note), now)?;
        let detail = load_detail(&tx, id)?;
        tx.commit()?;
        Ok(detail)
    }
}
