//! Enrollment secrets: the SHA-256 of each, whose token it collects, until when, and
//! whether it was used.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRecord {
    pub id: i64,
    pub staff_name: String,
    pub expires_at: UnixTime,
    pub redeemed: bool,
    /// No newer secret was issued for the same staff member since.
    pub latest: bool,
}

pub fn insert(
    conn: &Connection,
    secret_hash: &str,
    staff_name: &str,
    now: UnixTime,
    expires_at: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO enrollments (secret_hash, staff_name, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![secret_hash, staff_name, now.secs(), expires_at.secs()],
    )?;
    Ok(())
}

pub fn find_by_hash(conn: &Connection, secret_hash: &str) -> Result<Option<EnrollmentRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            "SELECT e.id, e.staff_name, e.expires_at, e.redeemed_at IS NOT NULL,
                    NOT EXISTS (SELECT 1 FROM enrollments n WHERE n.staff_name = e.staff_name AND n.id > e.id)
             FROM enrollments e WHERE e.secret_hash = ?1",
            [secret_hash],
            |r| {
                Ok(EnrollmentRecord {
                    id: r.get(0)?,
                    staff_name: r.get(1)?,
                    expires_at: UnixTime::from_secs(r.get(2)?),
                    redeemed: r.get(3)?,
                    latest: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Marks the secret used. Returns false if it already was.
pub fn redeem(conn: &Connection, id: i64, now: UnixTime) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE enrollments SET redeemed_at = ?2 WHERE id = ?1 AND redeemed_at IS NULL",
        params![id, now.secs()],
    )? == 1)
}
