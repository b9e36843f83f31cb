//! The admin log: who changed which configuration, when, append-only. (Withdrawal history
//! has its own table; see `withdrawals`.)

use super::cached::CachedSql;
use rusqlite::{params, Connection};
use serde_json::Value;

use super::DbError;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq)]
pub struct AdminEvent {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
    pub recorded_at: UnixTime,
}

pub fn record(
    conn: &Connection,
    actor: &str,
    action: &str,
    subject: &str,
    details: &Value,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO admin_events (actor, action, subject, details, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![actor, action, subject, details.to_string(), now.secs()],
    )?;
    Ok(())
}

/// The newest `limit` entries, newest first.
pub fn recent(conn: &Connection, limit: u32) -> Result<Vec<AdminEvent>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT actor, action, subject, details, recorded_at FROM admin_events ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (actor, action, subject, details, at) = row?;
        Ok(AdminEvent {
            details: serde_json::from_str(&details)
                .map_err(|e| DbError::Corrupt(format!("admin event details: {e}")))?,
            actor,
            action,
            subject,
            recorded_at: UnixTime::from_secs(at),
        })
    })
    .collect()
}
