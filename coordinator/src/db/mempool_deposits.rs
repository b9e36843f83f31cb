//! Rows of `mempool_deposits`: outputs paying deposit addresses in transactions the node
//! holds in its mempool. A view of the node that the monitor replaces as a whole each pass
//! (migration 10 says why this one table is not append-only).

use std::collections::HashSet;

use bitcoin::{Amount, OutPoint, Txid};
use rusqlite::{params, Connection, Row};

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::time::UnixTime;

/// One output paying a deposit address, in a transaction not yet in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolDeposit {
    pub outpoint: OutPoint,
    pub wallet: String,
    pub index: u32,
    pub address: String,
    /// `None`: an address of the gap window issued to no one.
    pub customer: Option<String>,
    pub amount: Amount,
    /// When the monitor first saw it in the mempool (kept across passes).
    pub first_seen_at: UnixTime,
}

type Raw = (String, u32, String, u32, String, Option<String>, i64, i64);

fn from_row(row: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    ))
}

fn parse(
    (txid, vout, wallet, index, address, customer, amount, seen): Raw,
) -> Result<MempoolDeposit, DbError> {
    let txid: Txid = txid
        .parse()
        .map_err(|e| DbError::Corrupt(format!("mempool deposit txid {txid:?}: {e}")))?;
    Ok(MempoolDeposit {
        outpoint: OutPoint { txid, vout },
        wallet,
        index,
        address,
        customer,
        amount: sat_from_sql(amount)?,
        first_seen_at: UnixTime::from_secs(seen),
    })
}

/// Every unconfirmed deposit, oldest first, optionally of one customer.
pub fn list(conn: &Connection, customer: Option<&str>) -> Result<Vec<MempoolDeposit>, DbError> {
    let mut statement = conn.prepare_cached(
        "SELECT txid, vout, wallet, derivation_index, address, customer_id, amount_sat, first_seen_at \
         FROM mempool_deposits WHERE (?1 IS NULL OR customer_id = ?1) ORDER BY first_seen_at, txid, vout",
    )?;
    let raw = statement
        .query_map(params![customer], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raw.into_iter().map(parse).collect()
}

fn stored_keys(conn: &Connection) -> Result<Vec<(String, u32)>, DbError> {
    Ok(conn
        .prepare_cached("SELECT txid, vout FROM mempool_deposits")?
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn keys(current: &[MempoolDeposit]) -> HashSet<(String, u32)> {
    current
        .iter()
        .map(|d| (d.outpoint.txid.to_string(), d.outpoint.vout))
        .collect()
}

/// Whether the table already holds exactly the outputs of `current` (then [`replace`]
/// would change nothing, and the monitor need not take the write lock).
pub fn holds_exactly(conn: &Connection, current: &[MempoolDeposit]) -> Result<bool, DbError> {
    let stored = stored_keys(conn)?;
    let wanted = keys(current);
    Ok(stored.len() == wanted.len() && stored.iter().all(|key| wanted.contains(key)))
}

/// Makes the table hold exactly `current` (what the mempool pays deposit addresses now):
/// rows no longer there are deleted, new ones inserted with `now`, rows still there keep
/// their first-seen time. Call inside one transaction.
pub fn replace(conn: &Connection, current: &[MempoolDeposit], now: UnixTime) -> Result<(), DbError> {
    let wanted = keys(current);
    let stored = stored_keys(conn)?;
    let mut delete = conn.prepare_cached("DELETE FROM mempool_deposits WHERE txid = ?1 AND vout = ?2")?;
    for gone in stored.iter().filter(|key| !wanted.contains(*key)) {
        delete.execute(params![gone.0, gone.1])?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO mempool_deposits \
         (txid, vout, wallet, derivation_index, address, customer_id, amount_sat, first_seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for deposit in current {
        insert.execute(params![
            deposit.outpoint.txid.to_string(),
            deposit.outpoint.vout,
            deposit.wallet,
            deposit.index,
            deposit.address,
            deposit.customer,
            sat_to_sql(deposit.amount)?,
            now.secs(),
        ])?;
    }
    Ok(())
}
