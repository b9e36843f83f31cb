//! Proposed configuration changes awaiting a second admin, and what became of them.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbError;
use crate::time::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStatus {
    Pending,
    Applied,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Applied => "applied",
            ProposalStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Option<ProposalStatus> {
        [
            ProposalStatus::Pending,
            ProposalStatus::Applied,
            ProposalStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalRecord {
    pub id: u64,
    /// Canonical JSON of the change.
    pub change: String,
    pub summary: String,
    pub proposed_by: String,
    pub proposed_at: UnixTime,
    pub expires_at: UnixTime,
    pub status: ProposalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<UnixTime>,
    pub reason: Option<String>,
}

const COLUMNS: &str =
    "id, change, summary, proposed_by, proposed_at, expires_at, status, decided_by, decided_at, reason";

type Raw = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

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
        row.get(8)?,
        row.get(9)?,
    ))
}

fn decode(raw: Raw) -> Result<ProposalRecord, DbError> {
    let (id, change, summary, proposed_by, proposed_at, expires_at, status, decided_by, decided_at, reason) =
        raw;
    Ok(ProposalRecord {
        id: u64::try_from(id).map_err(|_| DbError::Corrupt(format!("proposal id {id}")))?,
        status: ProposalStatus::parse(&status)
            .ok_or_else(|| DbError::Corrupt(format!("proposal {id} has status {status:?}")))?,
        change,
        summary,
        proposed_by,
        proposed_at: UnixTime::from_secs(proposed_at),
        expires_at: UnixTime::from_secs(expires_at),
        decided_by,
        decided_at: decided_at.map(UnixTime::from_secs),
        reason,
    })
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// Records a pending proposal; returns its id.
pub fn insert(
    conn: &Connection,
    change: &str,
    summary: &str,
    proposed_by: &str,
    now: UnixTime,
    expires_at: UnixTime,
) -> Result<u64, DbError> {
    conn.execute_cached(
        "INSERT INTO proposals (change, summary, proposed_by, proposed_at, expires_at, status) VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
        params![change, summary, proposed_by, now.secs(), expires_at.secs()],
    )?;
    let id = conn.last_insert_rowid();
    u64::try_from(id).map_err(|_| DbError::Corrupt(format!("proposal id {id}")))
}

pub fn find(conn: &Connection, id: u64) -> Result<Option<ProposalRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM proposals WHERE id = ?1"),
        [sql_id(id)],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

/// Newest first, at most `limit`.
pub fn list(conn: &Connection, limit: u32) -> Result<Vec<ProposalRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM proposals ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], from_row)?;
    rows.map(|r| decode(r?)).collect()
}

/// Decides a pending proposal. Returns false if it was no longer pending.
pub fn decide(
    conn: &Connection,
    id: u64,
    status: ProposalStatus,
    by: &str,
    reason: Option<&str>,
    now: UnixTime,
) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE proposals SET status = ?2, decided_by = ?3, decided_at = ?4, reason = ?5 WHERE id = ?1 AND status = 'pending'",
        params![sql_id(id), status.as_str(), by, now.secs(), reason],
    )? == 1)
}
