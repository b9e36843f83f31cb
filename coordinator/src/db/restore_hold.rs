//! The hold a restore puts on the processor (`meta` key `restore_hold`): a restored
//! database does not know the transactions made after its backup, so nothing is batched
//! until an admin has reconciled and released it.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::time::UnixTime;

const KEY: &str = "restore_hold";
const RELEASED: &str = "released";

/// Since when the processor is held, if it is.
pub fn held_since(conn: &Connection) -> Result<Option<UnixTime>, DbError> {
    let value: Option<String> = conn
        .query_row_cached("SELECT value FROM meta WHERE key = ?1", [KEY], |r| r.get(0))
        .optional()?;
    match value.as_deref() {
        None | Some(RELEASED) => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .map(|secs| Some(UnixTime::from_secs(secs)))
            .map_err(|_| DbError::Corrupt(format!("restore hold {text:?}"))),
    }
}

pub fn hold(conn: &Connection, now: UnixTime) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![KEY, now.secs().to_string()],
    )?;
    Ok(())
}

pub fn release(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE meta SET value = ?2 WHERE key = ?1 AND value != ?2",
        params![KEY, RELEASED],
    )? > 0)
}
