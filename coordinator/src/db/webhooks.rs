//! The webhook outbox and its delivery log (migration 15).

use super::cached::CachedSql;
use rusqlite::{params, Connection};

use super::DbError;

/// One outbox event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The row id (delivery order).
    pub seq: i64,
    /// The random id receivers de-duplicate on.
    pub event_id: String,
    pub kind: String,
    pub payload: String,
    pub created_at: i64,
    /// Attempts so far to this endpoint.
    pub attempts: u32,
}

/// Events not yet delivered to `endpoint` whose next attempt is due at `now_ms`, oldest
/// first, at most `limit`, stopping at the first one still waiting out its back-off (so
/// an endpoint receives events in order).
pub fn due(conn: &Connection, endpoint: &str, now_ms: i64, limit: u32) -> Result<Vec<OutboxEvent>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.event_id, e.kind, e.payload, e.created_at, \
             (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint = ?1 AND d.event = e.id), \
             (SELECT d.next_attempt_at_ms FROM webhook_deliveries d WHERE d.endpoint = ?1 AND d.event = e.id \
                 ORDER BY d.id DESC LIMIT 1) \
         FROM webhook_events e \
         WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint = ?1 AND d.event = e.id AND d.delivered = 1) \
         ORDER BY e.id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![endpoint, limit], |r| {
        Ok((
            OutboxEvent {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
                payload: r.get(3)?,
                created_at: r.get(4)?,
                attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
            },
            r.get::<_, Option<i64>>(6)?,
        ))
    })?;
    let mut due = Vec::new();
    for row in rows {
        let (event, next) = row?;
        if next.is_some_and(|at| at > now_ms) {
            break;
        }
        due.push(event);
    }
    Ok(due)
}

/// One attempt to deliver an event to an endpoint, as logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub event_id: String,
    pub kind: String,
    pub endpoint: String,
    pub attempt: u32,
    pub attempted_at_ms: i64,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    /// When the next attempt is due (none once delivered).
    pub next_attempt_at_ms: Option<i64>,
}

pub fn record_attempt(conn: &Connection, seq: i64, d: &Delivery) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO webhook_deliveries (event, endpoint, attempt, attempted_at_ms, http_status, error, delivered, next_attempt_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq,
            d.endpoint,
            d.attempt,
            d.attempted_at_ms,
            d.http_status,
            d.error,
            d.delivered,
            d.next_attempt_at_ms
        ],
    )?;
    Ok(())
}

/// The newest `limit` attempts, newest first.
pub fn deliveries(conn: &Connection, limit: u32) -> Result<Vec<Delivery>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.event_id, e.kind, d.endpoint, d.attempt, d.attempted_at_ms, d.http_status, d.error, d.delivered, \
             d.next_attempt_at_ms \
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event ORDER BY d.id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(Delivery {
            event_id: r.get(0)?,
            kind: r.get(1)?,
            endpoint: r.get(2)?,
            attempt: r.get(3)?,
            attempted_at_ms: r.get(4)?,
            http_status: r.get(5)?,
            error: r.get(6)?,
            delivered: r.get(7)?,
            next_attempt_at_ms: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Events not yet delivered to `endpoint` (for `/metrics`-style checks and tests).
pub fn undelivered(conn: &Connection, endpoint: &str) -> Result<u64, DbError> {
    let n: i64 = conn.query_row_cached(
        "SELECT COUNT(*) FROM webhook_events e WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
         WHERE d.endpoint = ?1 AND d.event = e.id AND d.delivered = 1)",
        [endpoint],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or_default())
}
