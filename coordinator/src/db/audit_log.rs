//! The audit log's storage (`crate::audit` explains the chain): the SQL functions its
//! triggers call, reading the entries back, and the check that no trigger but the
//! migrations' own can run on the database.

use std::sync::{Arc, OnceLock};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension};

use super::cached::CachedSql;
use super::{schema, DbError};
use crate::audit::{entry_hash, AuditKey, Entry};

/// Makes `sluice_audit_hash` and `sluice_audit_sign` available to the audit triggers on
/// `conn`, and `sluice_coordinator_write` to the triggers that keep `daily_outflow`
/// (migration 17: a connection without it cannot change a daily total). Deliberately not
/// `SQLITE_DIRECTONLY`: the triggers must call them; what else may is settled by
/// `check_triggers`.
pub(super) fn register(conn: &Connection, key: Arc<AuditKey>) -> Result<(), rusqlite::Error> {
    conn.create_scalar_function(
        "sluice_coordinator_write",
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |_| Ok(1),
    )?;
    conn.create_scalar_function("sluice_audit_hash", 5, FunctionFlags::SQLITE_UTF8, |ctx| {
        let seq: i64 = ctx.get(0)?;
        let prev: Vec<u8> = ctx.get(1)?;
        let at: Option<i64> = ctx.get(2)?;
        let kind: String = ctx.get(3)?;
        let body: String = ctx.get(4)?;
        Ok(entry_hash(seq, &prev, at, &kind, &body).to_vec())
    })?;
    conn.create_scalar_function(
        "sluice_audit_sign",
        1,
        FunctionFlags::SQLITE_UTF8,
        move |ctx: &Context<'_>| {
            let hash: Vec<u8> = ctx.get(0)?;
            let hash: [u8; 32] = hash.try_into().map_err(|_| {
                rusqlite::Error::UserFunctionError("sluice_audit_sign takes a 32-byte entry hash".into())
            })?;
            Ok(key.sign(&hash).to_vec())
        },
    )?;
    Ok(())
}

/// Where a write transaction's audit entries will begin: the newest entry's number now
/// (0 for an empty log), once it is known to be signed. Every transaction the coordinator
/// commits ends with a signed entry (`sign_newest`), so an unsigned newest entry was
/// appended by someone else, and the coordinator must not write after it: its next
/// signature would cover the outsider's entry through the link (`DbError::AuditUnsigned`).
pub(super) fn newest_before_write(conn: &Connection) -> Result<i64, DbError> {
    let newest: Option<(i64, bool)> = conn
        .query_row_cached(
            "SELECT seq, signature IS NOT NULL FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match newest {
        None => Ok(0),
        Some((seq, true)) => Ok(seq),
        Some((seq, false)) => Err(DbError::AuditUnsigned { seq }),
    }
}

/// Signs the newest entry if this transaction wrote it (its number is above `before`,
/// from `newest_before_write`): called once per write transaction, just before it
/// commits, so each transaction's entries are covered by one signature (migration 18;
/// `audit::verify`). Does nothing when the transaction wrote no entry.
pub(super) fn sign_newest(conn: &Connection, before: i64) -> Result<(), rusqlite::Error> {
    conn.execute_cached(
        "UPDATE audit_log SET signature = sluice_audit_sign(entry_hash) \
         WHERE seq = (SELECT MAX(seq) FROM audit_log) AND seq > ?1 AND signature IS NULL",
        [before],
    )?;
    Ok(())
}

pub(super) fn is_empty(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn
        .query_row("SELECT 1 FROM audit_log LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_none())
}

/// Every entry, in sequence order.
pub fn entries(conn: &Connection) -> Result<Vec<Entry>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT seq, kind, body, recorded_at, prev_hash, entry_hash, signature FROM audit_log ORDER BY seq",
    )?;
    let rows = stmt.query_map([], entry_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An entry from a row of `SELECT seq, kind, body, recorded_at, prev_hash, entry_hash,
/// signature`.
fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        seq: r.get(0)?,
        kind: r.get(1)?,
        body: r.get(2)?,
        recorded_at: r.get(3)?,
        prev_hash: r.get::<_, Option<Vec<u8>>>(4)?.unwrap_or_default(),
        entry_hash: r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
        signature: r.get::<_, Option<Vec<u8>>>(6)?.unwrap_or_default(),
    })
}

/// The entry numbered `seq`, if there is one (unverified: `entries` for verification).
pub fn entry_at(conn: &Connection, seq: i64) -> Result<Option<Entry>, DbError> {
    Ok(conn
        .query_row(
            "SELECT seq, kind, body, recorded_at, prev_hash, entry_hash, signature FROM audit_log WHERE seq = ?1",
            [seq],
            entry_from_row,
        )
        .optional()?)
}

/// The newest `limit` entries, newest first (for display; `entries` for verification).
pub fn recent(conn: &Connection, limit: u32) -> Result<Vec<Entry>, DbError> {
    let mut all = entries(conn)?;
    all.reverse();
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}

/// Refuses a database whose triggers differ from the ones the migrations make: an extra
/// or altered trigger (or view) would run inside the coordinator's own writes, where the
/// signing function is available, and could have it sign entries for events that never
/// happened. A guard trigger that was dropped is let through (the guards are belt and
/// braces; the rules decide), but every audit trigger must be there, unchanged, and so
/// must every `outflow_` trigger (the daily limits read the totals they keep).
pub(super) fn check_triggers(conn: &Connection) -> Result<(), DbError> {
    let expected = expected_code_objects()?;
    let found = code_objects(conn)?;
    if let Some((name, _)) = found.iter().find(|object| !expected.contains(object)) {
        return Err(DbError::SchemaAltered(format!(
            "trigger or view {name:?} is not one the coordinator's migrations made (added or edited)"
        )));
    }
    if let Some((name, _)) = expected.iter().find(|(name, _)| {
        (name.starts_with("audit_") || name.starts_with("outflow_")) && !found.iter().any(|(n, _)| n == name)
    }) {
        return Err(DbError::SchemaAltered(format!("trigger {name:?} was dropped")));
    }
    Ok(())
}

/// The triggers and views the migrations make, read once per process from an in-memory
/// database they ran on (about 30 ms: every connection the coordinator opens is checked
/// against them).
fn expected_code_objects() -> Result<&'static [(String, String)], DbError> {
    static EXPECTED: OnceLock<Vec<(String, String)>> = OnceLock::new();
    if let Some(expected) = EXPECTED.get() {
        return Ok(expected);
    }
    let fresh = Connection::open_in_memory()?;
    for sql in schema::MIGRATIONS {
        fresh.execute_batch(sql)?;
    }
    let objects = code_objects(&fresh)?;
    Ok(EXPECTED.get_or_init(|| objects))
}

fn code_objects(conn: &Connection) -> Result<Vec<(String, String)>, rusqlite::Error> {
    let mut stmt = conn.prepare(
        "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
