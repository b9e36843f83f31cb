//! What online signers report refusing: the latest reason per session and signer.

use super::cached::CachedSql;
use rusqlite::{params, Connection};
use sluice_shared::api::SignerRefusalReport;

use super::DbError;
use crate::time::UnixTime;

fn id_to_sql(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// Records a report, replacing the previous one of this signer for this session.
pub fn record(
    conn: &Connection,
    session_id: u64,
    signer_id: &str,
    reason: &str,
    detail: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO signer_refusals (session_id, signer_id, reason, detail, reported_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(session_id, signer_id) DO UPDATE SET reason = excluded.reason, \
         detail = excluded.detail, reported_at = excluded.reported_at, reports = reports + 1",
        params![id_to_sql(session_id), signer_id, reason, detail, now.secs()],
    )?;
    Ok(())
}

/// The refusals that still hold for a withdrawal: on its open sessions, from signers
/// that have not signed that session since.
pub fn for_withdrawal(conn: &Connection, withdrawal_id: u64) -> Result<Vec<SignerRefusalReport>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.signer_id, r.session_id, r.reason, r.detail, r.reported_at FROM signer_refusals r \
         JOIN session_withdrawals sw ON sw.session_id = r.session_id \
         JOIN signing_sessions ss ON ss.id = r.session_id \
         WHERE sw.withdrawal_id = ?1 AND ss.status = 'open' \
         AND NOT EXISTS (SELECT 1 FROM partial_signatures p WHERE p.session_id = r.session_id \
             AND p.signer_id = r.signer_id AND p.received_at >= r.reported_at) \
         ORDER BY r.session_id, r.signer_id",
    )?;
    let rows = stmt.query_map([id_to_sql(withdrawal_id)], |r| {
        Ok(SignerRefusalReport {
            signer_id: r.get(0)?,
            session_id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or_default(),
            reason: r.get(2)?,
            detail: r.get(3)?,
            reported_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Reports per signer name and reason, over all time (for `/metrics`).
pub fn totals(conn: &Connection) -> Result<Vec<(String, String, u64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, r.reason, SUM(r.reports) FROM signer_refusals r \
         JOIN signers s ON s.signer_id = r.signer_id GROUP BY s.name, r.reason ORDER BY s.name, r.reason",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            u64::try_from(r.get::<_, i64>(2)?).unwrap_or_default(),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether each signer (by name) last reported being paused, with no signature from it
/// since: paused as far as the coordinator can tell.
pub fn paused(conn: &Connection) -> Result<Vec<(String, bool)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, COALESCE((SELECT r.reason = 'paused' FROM signer_refusals r \
             WHERE r.signer_id = s.signer_id ORDER BY r.reported_at DESC, r.rowid DESC LIMIT 1), 0) \
           AND NOT EXISTS (SELECT 1 FROM partial_signatures p WHERE p.signer_id = s.signer_id \
             AND p.received_at > (SELECT MAX(r.reported_at) FROM signer_refusals r WHERE r.signer_id = s.signer_id)) \
         FROM signers s WHERE s.active = 1 ORDER BY s.name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, bool>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A signer's most recent refusal report, and the withdrawals its session pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRefusal {
    pub signer_name: String,
    pub session_id: u64,
    pub reason: String,
    pub detail: String,
    pub reported_at: UnixTime,
    pub withdrawal_ids: Vec<u64>,
}

/// Each signer's (by name) most recent refusal report, whatever became of its session
/// since: the dashboard shows it with its time so staff judge whether it still matters.
pub fn latest_per_signer(conn: &Connection) -> Result<Vec<LatestRefusal>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, r.session_id, r.reason, r.detail, r.reported_at FROM signers s \
         JOIN signer_refusals r ON r.rowid = (SELECT r2.rowid FROM signer_refusals r2 \
             WHERE r2.signer_id = s.signer_id ORDER BY r2.reported_at DESC, r2.rowid DESC LIMIT 1) \
         ORDER BY s.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(LatestRefusal {
            signer_name: r.get(0)?,
            session_id: u64::try_from(r.get::<_, i64>(1)?).unwrap_or_default(),
            reason: r.get(2)?,
            detail: r.get(3)?,
            reported_at: UnixTime::from_secs(r.get(4)?),
            withdrawal_ids: Vec::new(),
        })
    })?;
    let mut latest: Vec<LatestRefusal> = rows.collect::<Result<_, _>>()?;
    let mut paid = conn.prepare_cached(
        "SELECT withdrawal_id FROM session_withdrawals WHERE session_id = ?1 ORDER BY withdrawal_id",
    )?;
    for refusal in &mut latest {
        refusal.withdrawal_ids = paid
            .query_map([id_to_sql(refusal.session_id)], |r| r.get::<_, i64>(0))?
            .map(|id| id.map(|id| u64::try_from(id).unwrap_or_default()))
            .collect::<Result<_, _>>()?;
    }
    Ok(latest)
}
