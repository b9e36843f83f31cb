//! Withdrawals, their append-only history and their approvals.

use super::cached::CachedSql;
use bitcoin::Amount;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sluice_shared::api::{ApprovalMethod, EventKind, WithdrawalStatus};

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRecord {
    pub id: u64,
    pub idempotency_key: String,
    pub request_hash: String,
    pub customer_id: String,
    pub wallet: String,
    pub asset: String,
    pub destination: String,
    pub amount: Amount,
    pub fee: Amount,
    pub status: WithdrawalStatus,
    pub requested_by: String,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// What intake records for an accepted request.
#[derive(Debug, Clone)]
pub struct NewWithdrawalRow<'a> {
    pub idempotency_key: &'a str,
    pub request_hash: &'a str,
    pub customer_id: &'a str,
    pub wallet: &'a str,
    pub asset: &'a str,
    pub destination: &'a str,
    pub amount: Amount,
    pub fee: Amount,
    pub requested_by: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: EventKind,
    pub actor: String,
    pub reason: Option<String>,
    pub recorded_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub approver: Option<String>,
    pub method: ApprovalMethod,
    pub detail: Option<String>,
    pub approved_at: UnixTime,
}

/// Which withdrawals a list returns: newest first, optionally one status, paged by id.
#[derive(Debug, Clone, Copy)]
pub struct ListFilter {
    pub status: Option<WithdrawalStatus>,
    /// Only ids below this (the last id of the previous page).
    pub before_id: Option<u64>,
    pub limit: u32,
}

const COLUMNS: &str = "id, idempotency_key, request_hash, customer_id, wallet, asset, destination, \
                       amount_sat, fee_sat, status, requested_by, created_at, updated_at";

type RawWithdrawal = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    String,
    i64,
    i64,
);

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawWithdrawal> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
    ))
}

fn decode(raw: RawWithdrawal) -> Result<WithdrawalRecord, DbError> {
    let (id, key, hash, customer, wallet, asset, dest, amount, fee, status, by, created, updated) = raw;
    Ok(WithdrawalRecord {
        id: u64::try_from(id).map_err(|_| DbError::Corrupt(format!("withdrawal id {id}")))?,
        status: status
            .parse()
            .map_err(|_| DbError::Corrupt(format!("withdrawal {id} has status {status:?}")))?,
        idempotency_key: key,
        request_hash: hash,
        customer_id: customer,
        wallet,
        asset,
        destination: dest,
        amount: sat_from_sql(amount)?,
        fee: sat_from_sql(fee)?,
        requested_by: by,
        created_at: UnixTime::from_secs(created),
        updated_at: UnixTime::from_secs(updated),
    })
}

fn id_to_sql(id: u64) -> i64 {
    // Ids come from SQLite's rowid, so they fit; an impossible one matches no row.
    i64::try_from(id).unwrap_or(-1)
}

pub fn insert(conn: &Connection, row: &NewWithdrawalRow<'_>, now: UnixTime) -> Result<u64, DbError> {
    conn.execute_cached(
        "INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination, \
         amount_sat, fee_sat, status, requested_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending_approval', ?9, ?10, ?10)",
        params![
            row.idempotency_key,
            row.request_hash,
            row.customer_id,
            row.wallet,
            row.asset,
            row.destination,
            sat_to_sql(row.amount)?,
            sat_to_sql(row.fee)?,
            row.requested_by,
            now.secs()
        ],
    )?;
    let id = conn.last_insert_rowid();
    u64::try_from(id).map_err(|_| DbError::Corrupt(format!("new withdrawal id {id}")))
}

pub fn find(conn: &Connection, id: u64) -> Result<Option<WithdrawalRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM withdrawals WHERE id = ?1"),
        [id_to_sql(id)],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

pub fn find_by_idempotency_key(conn: &Connection, key: &str) -> Result<Option<WithdrawalRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM withdrawals WHERE idempotency_key = ?1"),
        [key],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

pub fn list(conn: &Connection, filter: &ListFilter) -> Result<Vec<WithdrawalRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM withdrawals \
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2) \
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![
            filter.status.map(|s| s.as_str()),
            filter.before_id.map(id_to_sql),
            filter.limit
        ],
        from_row,
    )?;
    rows.map(|r| decode(r?)).collect()
}

/// Moves a withdrawal from `from` to `to`. Fails (and the caller's transaction should roll
/// back) if it is no longer in `from`, so a decision made on stale facts is never recorded.
pub fn set_status(
    conn: &Connection,
    id: u64,
    from: WithdrawalStatus,
    to: WithdrawalStatus,
    now: UnixTime,
) -> Result<(), DbError> {
    let changed = conn.execute_cached(
        "UPDATE withdrawals SET status = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?2",
        params![id_to_sql(id), from.as_str(), to.as_str(), now.secs()],
    )?;
    if changed != 1 {
        return Err(DbError::Corrupt(format!(
            "withdrawal {id} was expected in status {from} when moving it to {to}"
        )));
    }
    Ok(())
}

/// What counts against the customer's daily limit on the UTC day of `on`: its withdrawals
/// of `asset` requested that day and not rejected or failed (those will never be paid).
/// One row of the running totals (migration 17), however many withdrawals the day had.
pub fn sum_for_customer(
    conn: &Connection,
    customer_id: &str,
    asset: &str,
    on: UnixTime,
) -> Result<Amount, DbError> {
    daily_outflow(conn, "customer", customer_id, Some(asset), on)
}

/// What counts against the wallet's daily limit on the UTC day of `on`: its withdrawals
/// requested that day and not rejected or failed.
pub fn sum_for_wallet(conn: &Connection, wallet: &str, on: UnixTime) -> Result<Amount, DbError> {
    daily_outflow(conn, "wallet", wallet, None, on)
}

/// One day's total of a customer (and asset) or of a wallet (all its assets): a lookup by
/// the primary key (`db_tests` checks the plan).
pub(crate) const DAILY_OUTFLOW: &str = "SELECT COALESCE(SUM(amount_sat), 0) FROM daily_outflow \
     WHERE scope = ?1 AND name = ?2 AND day = ?4 AND (?3 IS NULL OR asset = ?3)";

fn daily_outflow(
    conn: &Connection,
    scope: &str,
    name: &str,
    asset: Option<&str>,
    on: UnixTime,
) -> Result<Amount, DbError> {
    let total: i64 = conn.query_row_cached(
        DAILY_OUTFLOW,
        params![scope, name, asset, on.utc_day_number()],
        |r| r.get(0),
    )?;
    sat_from_sql(total)
}

pub fn insert_event(
    conn: &Connection,
    id: u64,
    kind: EventKind,
    actor: &str,
    reason: Option<&str>,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO withdrawal_events (withdrawal_id, kind, actor, reason, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id_to_sql(id), kind.as_str(), actor, reason, now.secs()],
    )?;
    Ok(())
}

pub fn events(conn: &Connection, id: u64) -> Result<Vec<EventRecord>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, actor, reason, recorded_at FROM withdrawal_events WHERE withdrawal_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id_to_sql(id)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (kind, actor, reason, at) = row?;
        Ok(EventRecord {
            kind: EventKind::parse(&kind).ok_or_else(|| DbError::Corrupt(format!("event kind {kind:?}")))?,
            actor,
            reason,
            recorded_at: UnixTime::from_secs(at),
        })
    })
    .collect()
}

pub fn insert_approval(
    conn: &Connection,
    id: u64,
    approver: Option<&str>,
    method: ApprovalMethod,
    detail: Option<&str>,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO approvals (withdrawal_id, approver, method, detail, approved_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id_to_sql(id), approver, method.as_str(), detail, now.secs()],
    )?;
    Ok(())
}

pub fn approvals(conn: &Connection, id: u64) -> Result<Vec<ApprovalRecord>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT approver, method, detail, approved_at FROM approvals WHERE withdrawal_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id_to_sql(id)], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (approver, method, detail, at) = row?;
        Ok(ApprovalRecord {
            method: ApprovalMethod::parse(&method)
                .ok_or_else(|| DbError::Corrupt(format!("approval method {method:?}")))?,
            approver,
            detail,
            approved_at: UnixTime::from_secs(at),
        })
    })
    .collect()
}

/// The queue: approved withdrawals of `wallet`, oldest first.
pub fn approved_for_wallet(
    conn: &Connection,
    wallet: &str,
    limit: usize,
) -> Result<Vec<WithdrawalRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM withdrawals WHERE wallet = ?1 AND status = 'approved' ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![wallet, i64::try_from(limit).unwrap_or(i64::MAX)],
        from_row,
    )?;
    rows.map(|r| decode(r?)).collect()
}

/// Wallets that have approved withdrawals waiting.
pub fn wallets_with_approved(conn: &Connection) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT wallet FROM withdrawals WHERE status = 'approved' ORDER BY wallet",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
