//! Signing sessions: one unsigned transaction for a wallet's signers, and which
//! withdrawals it pays.

use super::cached::CachedSql;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, Txid};
use rusqlite::{params, Connection, OptionalExtension};

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: u64,
    pub wallet: String,
    pub unsigned_txid: Txid,
    pub psbt: Psbt,
    pub fee: Amount,
    pub change: Option<Amount>,
    pub status: String,
    pub created_by: String,
    pub created_at: UnixTime,
    /// (withdrawal id, output index), by output index.
    pub withdrawals: Vec<(u64, u32)>,
}

pub fn insert(
    conn: &Connection,
    wallet: &str,
    psbt: &Psbt,
    fee: Amount,
    change: Option<Amount>,
    created_by: &str,
    now: UnixTime,
) -> Result<u64, DbError> {
    conn.execute_cached(
        "INSERT INTO signing_sessions (wallet, unsigned_txid, psbt, fee_sat, change_sat, status, created_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?7)",
        params![
            wallet,
            psbt.unsigned_tx.compute_txid().to_string(),
            psbt.to_string(),
            sat_to_sql(fee)?,
            change.map(sat_to_sql).transpose()?,
            created_by,
            now.secs()
        ],
    )?;
    let id = conn.last_insert_rowid();
    u64::try_from(id).map_err(|_| DbError::Corrupt(format!("session id {id}")))
}

pub fn add_withdrawal(
    conn: &Connection,
    session_id: u64,
    withdrawal_id: u64,
    output_index: u32,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO session_withdrawals (session_id, withdrawal_id, output_index) VALUES (?1, ?2, ?3)",
        params![
            i64::try_from(session_id).unwrap_or(-1),
            i64::try_from(withdrawal_id).unwrap_or(-1),
            output_index
        ],
    )?;
    Ok(())
}

pub fn find(conn: &Connection, id: u64) -> Result<Option<SessionRecord>, DbError> {
    let sql_id = i64::try_from(id).unwrap_or(-1);
    let row = conn
        .query_row_cached(
            "SELECT wallet, unsigned_txid, psbt, fee_sat, change_sat, status, created_by, created_at \
             FROM signing_sessions WHERE id = ?1",
            [sql_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            },
        )
        .optional()?;
    let Some((wallet, txid, psbt, fee, change, status, created_by, created_at)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str| DbError::Corrupt(format!("session {id}: {what}"));
    let mut stmt = conn.prepare_cached(
        "SELECT withdrawal_id, output_index FROM session_withdrawals WHERE session_id = ?1 ORDER BY output_index",
    )?;
    let withdrawals = stmt
        .query_map([sql_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?)))?
        .map(|row| {
            let (w, vout) = row?;
            Ok((u64::try_from(w).map_err(|_| corrupt("withdrawal id"))?, vout))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Some(SessionRecord {
        id,
        wallet,
        unsigned_txid: txid.parse().map_err(|_| corrupt("txid"))?,
        psbt: psbt.parse().map_err(|_| corrupt("psbt"))?,
        fee: sat_from_sql(fee)?,
        change: change.map(sat_from_sql).transpose()?,
        status,
        created_by,
        created_at: UnixTime::from_secs(created_at),
        withdrawals,
    }))
}

/// Moves a session from `from` to `to`. Returns false (and changes nothing) if it was not
/// in `from`: another process got there first, so the caller backs off. The allowed
/// moves are the service layer's business; this is the compare-and-set it builds on.
pub fn transition(conn: &Connection, id: u64, from: &str, to: &str, now: UnixTime) -> Result<bool, DbError> {
    let n = conn.execute_cached(
        "UPDATE signing_sessions SET status = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?2",
        params![i64::try_from(id).unwrap_or(-1), from, to, now.secs()],
    )?;
    Ok(n == 1)
}

/// Ids of the sessions in `status`, oldest first.
pub fn ids_with_status(conn: &Connection, status: &str) -> Result<Vec<u64>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM signing_sessions WHERE status = ?1 ORDER BY id")?;
    let rows = stmt.query_map([status], |r| r.get::<_, i64>(0))?;
    rows.map(|r| {
        let id = r?;
        u64::try_from(id).map_err(|_| DbError::Corrupt(format!("session id {id}")))
    })
    .collect()
}
