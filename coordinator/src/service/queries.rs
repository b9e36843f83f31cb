//! Reading withdrawals: the list and one withdrawal with its approvals and history.

use crate::db::cached::CachedSql;
use rusqlite::{Connection, OptionalExtension};
use sluice_shared::api::{
    Approval, Withdrawal, WithdrawalDetail, WithdrawalEvent, WithdrawalList, WithdrawalStatus,
};

use super::{require, Actor, Coordinator, ServiceError};
use crate::db::withdrawals::{self, ListFilter, WithdrawalRecord};
use crate::db::DbError;
use crate::rules::roles::Permission;

/// The most withdrawals one list returns.
pub const MAX_LIST_LIMIT: u32 = 500;

/// Which withdrawals to list: newest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WithdrawalQuery {
    pub status: Option<WithdrawalStatus>,
    /// Only withdrawals with a smaller id (paging: the last id of the previous page).
    pub before_id: Option<u64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<u32>,
}

/// The session paying withdrawal `id` while it is batched or later: the one whose
/// transaction is in a block, else the newest (fee bumps add sessions).
fn paying_session(conn: &Connection, record: &WithdrawalRecord) -> Result<Option<(u64, String)>, DbError> {
    use WithdrawalStatus::*;
    if !matches!(record.status, Batched | Signing | Signed | Broadcast | Confirmed) {
        return Ok(None);
    }
    Ok(conn
        .query_row_cached(
            "SELECT sw.session_id, ss.unsigned_txid FROM session_withdrawals sw \
             JOIN signing_sessions ss ON ss.id = sw.session_id \
             LEFT JOIN broadcasts b ON b.session_id = sw.session_id \
             WHERE sw.withdrawal_id = ?1 \
             ORDER BY (b.block_height IS NOT NULL) DESC, sw.session_id DESC LIMIT 1",
            [record.id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?
        .map(|(id, txid)| (u64::try_from(id).unwrap_or_default(), txid)))
}

pub(crate) fn to_api(conn: &Connection, record: WithdrawalRecord) -> Result<Withdrawal, DbError> {
    let paying = paying_session(conn, &record)?;
    let (session_id, txid) = match paying {
        Some((id, txid)) => (Some(id), Some(txid)),
        None => (None, None),
    };
    Ok(Withdrawal {
        id: record.id,
        customer_id: record.customer_id,
        wallet: record.wallet,
        asset: record.asset,
        destination: record.destination,
        amount_sat: record.amount,
        fee_sat: record.fee,
        status: record.status,
        requested_by: record.requested_by,
        created_at: record.created_at.secs(),
        updated_at: record.updated_at.secs(),
        session_id,
        txid,
    })
}

/// One withdrawal with its approvals and full history, as stored now.
pub(crate) fn load_detail(conn: &Connection, id: u64) -> Result<WithdrawalDetail, ServiceError> {
    let record =
        withdrawals::find(conn, id)?.ok_or_else(|| ServiceError::NotFound(format!("withdrawal {id}")))?;
    let approvals = withdrawals::approvals(conn, id)?
        .into_iter()
        .map(|a| Approval {
            approver: a.approver,
            method: a.method,
            approved_at: a.approved_at.secs(),
            detail: a.detail,
        })
        .collect();
    let history = withdrawals::events(conn, id)?
        .into_iter()
        .map(|e| WithdrawalEvent {
            kind: e.kind,
            actor: e.actor,
            reason: e.reason,
            recorded_at: e.recorded_at.secs(),
        })
        .collect();
    Ok(WithdrawalDetail {
        withdrawal: to_api(conn, record)?,
        approvals,
        history,
        flags: crate::db::risk::flags(conn, id)?,
        signer_refusals: crate::db::signer_refusals::for_withdrawal(conn, id)?,
    })
}

impl Coordinator {
    pub fn list_withdrawals(
        &mut self,
        actor: &Actor,
        query: &WithdrawalQuery,
    ) -> Result<WithdrawalList, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let limit = query.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(ServiceError::Invalid(format!(
                "limit must be between 1 and {MAX_LIST_LIMIT}"
            )));
        }
        let tx = self.db.read()?;
        let filter = ListFilter {
            status: query.status,
            before_id: query.before_id,
            limit,
        };
        let withdrawals = withdrawals::list(&tx, &filter)?
            .into_iter()
            .map(|record| to_api(&tx, record))
            .collect::<Result<_, _>>()?;
        Ok(WithdrawalList { withdrawals })
    }

    pub fn withdrawal(&mut self, actor: &Actor, id: u64) -> Result<WithdrawalDetail, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        load_detail(&tx, id)
    }
}
