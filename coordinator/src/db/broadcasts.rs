//! The transaction each signed session became: recorded once (the session's id is the
//! key and its txid is fixed by the unsigned transaction), sent and re-sent until it
//! confirms, its block noted by the monitor.

use super::cached::CachedSql;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{BlockHash, Transaction, Txid};
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastRecord {
    pub session_id: u64,
    pub txid: Txid,
    pub tx: Transaction,
    pub attempts: u32,
    pub block_height: Option<u32>,
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// Records the final transaction of a session. Fails if the session already has one.
pub fn insert(conn: &Connection, session_id: u64, tx: &Transaction, now: UnixTime) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO broadcasts (session_id, txid, raw_tx, first_sent_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            sql_id(session_id),
            tx.compute_txid().to_string(),
            serialize_hex(tx),
            now.secs()
        ],
    )?;
    Ok(())
}

/// Notes one attempt to send and its outcome (`None` when the node took it).
pub fn note_attempt(
    conn: &Connection,
    session_id: u64,
    error: Option<&str>,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "UPDATE broadcasts SET attempts = attempts + 1, last_sent_at = ?2, last_error = ?3 WHERE session_id = ?1",
        params![sql_id(session_id), now.secs(), error],
    )?;
    Ok(())
}

/// Sets (or, on a reorg, clears) the block a transaction is in.
pub fn set_block(
    conn: &Connection,
    txid: &Txid,
    block: Option<(u32, &BlockHash)>,
) -> Result<Option<u64>, DbError> {
    let session: Option<i64> = conn
        .query_row_cached(
            "UPDATE broadcasts SET block_height = ?2, block_hash = ?3 WHERE txid = ?1 RETURNING session_id",
            params![
                txid.to_string(),
                block.map(|(h, _)| h),
                block.map(|(_, hash)| hash.to_string())
            ],
            |r| r.get(0),
        )
        .optional()?;
    session
        .map(|id| u64::try_from(id).map_err(|_| DbError::Corrupt(format!("session id {id}"))))
        .transpose()
}

fn decode(row: (i64, String, String, u32, Option<u32>)) -> Result<BroadcastRecord, DbError> {
    let (session, txid, raw, attempts, block_height) = row;
    let corrupt = |what: &str| DbError::Corrupt(format!("broadcast of session {session}: {what}"));
    let tx: Transaction = deserialize_hex(&raw).map_err(|_| corrupt("raw transaction"))?;
    let txid: Txid = txid.parse().map_err(|_| corrupt("txid"))?;
    if tx.compute_txid() != txid {
        return Err(corrupt("the transaction does not match its txid"));
    }
    Ok(BroadcastRecord {
        session_id: u64::try_from(session).map_err(|_| corrupt("session id"))?,
        txid,
        tx,
        attempts,
        block_height,
    })
}

const COLUMNS: &str = "session_id, txid, raw_tx, attempts, block_height";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, u32, Option<u32>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// Transactions not yet in a block whose last send is older than `before` (or never),
/// of sessions still `broadcast` (not replaced by a confirmed bump), not themselves
/// replaced by a sent fee bump (only the newest of a group is sent again) and not being
/// abandoned (the operator wants a conflicting transaction to win).
pub fn due_for_sending(conn: &Connection, before: UnixTime) -> Result<Vec<BroadcastRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM broadcasts b WHERE b.block_height IS NULL \
         AND (b.last_sent_at IS NULL OR b.last_sent_at < ?1) \
         AND EXISTS (SELECT 1 FROM signing_sessions s WHERE s.id = b.session_id AND s.status = 'broadcast') \
         AND NOT EXISTS (SELECT 1 FROM session_abandons a WHERE a.resolution IS NULL AND a.root_session = \
             COALESCE((SELECT root_session FROM session_replacements r WHERE r.session_id = b.session_id), b.session_id)) \
         AND NOT EXISTS (SELECT 1 FROM session_replacements r JOIN signing_sessions s2 ON s2.id = r.session_id \
             WHERE r.replaces_session = b.session_id AND s2.status = 'broadcast') \
         ORDER BY b.session_id"
    ))?;
    let rows = stmt.query_map([before.secs()], row)?;
    rows.map(|r| decode(r?)).collect()
}

/// Transactions in a block at `height` or above (what a reorg below them undoes).
pub fn confirmed_from(conn: &Connection, height: u32) -> Result<Vec<BroadcastRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM broadcasts WHERE block_height >= ?1 ORDER BY session_id"
    ))?;
    let rows = stmt.query_map([height], row)?;
    rows.map(|r| decode(r?)).collect()
}

/// Transactions in a block at or below `height` whose session is not yet `confirmed`.
pub fn buried_unconfirmed_sessions(conn: &Connection, height: u32) -> Result<Vec<u64>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.session_id FROM broadcasts b JOIN signing_sessions s ON s.id = b.session_id \
         WHERE b.block_height <= ?1 AND s.status = 'broadcast' ORDER BY b.session_id",
    )?;
    let rows = stmt.query_map([height], |r| r.get::<_, i64>(0))?;
    rows.map(|r| {
        let id = r?;
        u64::try_from(id).map_err(|_| DbError::Corrupt(format!("session id {id}")))
    })
    .collect()
}

pub fn find(conn: &Connection, session_id: u64) -> Result<Option<BroadcastRecord>, DbError> {
    let found = conn
        .query_row_cached(
            &format!("SELECT {COLUMNS} FROM broadcasts WHERE session_id = ?1"),
            [sql_id(session_id)],
            row,
        )
        .optional()?;
    found.map(decode).transpose()
}
