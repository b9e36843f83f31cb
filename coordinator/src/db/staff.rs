//! Staff members: name, role, the SHA-256 of their API token, active or not.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbError;
use crate::rules::roles::Role;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: UnixTime,
    pub created_by: Option<String>,
}

const COLUMNS: &str = "name, role, active, created_at, created_by";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, bool, i64, Option<String>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn decode(raw: (String, String, bool, i64, Option<String>)) -> Result<StaffRecord, DbError> {
    let (name, role, active, created_at, created_by) = raw;
    Ok(StaffRecord {
        role: role
            .parse()
            .map_err(|_| DbError::Corrupt(format!("staff {name} has role {role:?}")))?,
        name,
        active,
        created_at: UnixTime::from_secs(created_at),
        created_by,
    })
}

pub fn insert(
    conn: &Connection,
    name: &str,
    role: Role,
    token_hash: &str,
    now: UnixTime,
    created_by: Option<&str>,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO staff (name, role, token_hash, active, created_at, created_by) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
        params![name, role.as_str(), token_hash, now.secs(), created_by],
    )?;
    Ok(())
}

pub fn find(conn: &Connection, name: &str) -> Result<Option<StaffRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM staff WHERE name = ?1"),
        [name],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

pub fn find_by_token_hash(conn: &Connection, token_hash: &str) -> Result<Option<StaffRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM staff WHERE token_hash = ?1"),
        [token_hash],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

pub fn list(conn: &Connection) -> Result<Vec<StaffRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM staff ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| decode(r?)).collect()
}

/// Returns whether the staff member exists.
pub fn set_active(conn: &Connection, name: &str, active: bool) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE staff SET active = ?2 WHERE name = ?1",
        params![name, active],
    )? == 1)
}

/// Replaces a staff member's token (the old one stops working at once).
pub fn set_token_hash(conn: &Connection, name: &str, token_hash: &str) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE staff SET token_hash = ?2 WHERE name = ?1",
        params![name, token_hash],
    )? == 1)
}
