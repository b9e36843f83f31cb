//! Groups of sessions that spend the same inputs: a session and its fee bumps (each bump
//! spends exactly its original's inputs, so at most one of the group can confirm), the
//! abandon of a group, and the sessions' own history.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::time::UnixTime;

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

fn from_sql(id: i64) -> Result<u64, DbError> {
    u64::try_from(id).map_err(|_| DbError::Corrupt(format!("session id {id}")))
}

/// What a bump session replaces, who approved it and at what fee rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub session_id: u64,
    pub replaces: u64,
    pub root: u64,
    pub fee_rate_sat_vb: u64,
    pub approved_by: String,
    pub approved_at: UnixTime,
}

pub fn insert_replacement(conn: &Connection, r: &Replacement) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO session_replacements (session_id, replaces_session, root_session, fee_rate_sat_vb, approved_by, approved_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            sql_id(r.session_id),
            sql_id(r.replaces),
            sql_id(r.root),
            i64::try_from(r.fee_rate_sat_vb).unwrap_or(-1),
            r.approved_by,
            r.approved_at.secs()
        ],
    )?;
    Ok(())
}

/// The bump record of `session`, if it is a fee bump.
pub fn replacement_of(conn: &Connection, session: u64) -> Result<Option<Replacement>, DbError> {
    let row = conn
        .query_row_cached(
            "SELECT replaces_session, root_session, fee_rate_sat_vb, approved_by, approved_at \
             FROM session_replacements WHERE session_id = ?1",
            [sql_id(session)],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    row.map(|(replaces, root, rate, approved_by, at)| {
        Ok(Replacement {
            session_id: session,
            replaces: from_sql(replaces)?,
            root: from_sql(root)?,
            fee_rate_sat_vb: u64::try_from(rate).map_err(|_| DbError::Corrupt("fee rate".to_owned()))?,
            approved_by,
            approved_at: UnixTime::from_secs(at),
        })
    })
    .transpose()
}

/// The first session of `session`'s group (itself unless it is a bump).
pub fn root_of(conn: &Connection, session: u64) -> Result<u64, DbError> {
    Ok(replacement_of(conn, session)?.map_or(session, |r| r.root))
}

/// Every session of the group whose first session is `root`, oldest first.
pub fn group(conn: &Connection, root: u64) -> Result<Vec<u64>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT session_id FROM session_replacements WHERE root_session = ?1 ORDER BY session_id",
    )?;
    let rows = stmt.query_map([sql_id(root)], |r| r.get::<_, i64>(0))?;
    let mut ids = vec![root];
    for row in rows {
        ids.push(from_sql(row?)?);
    }
    Ok(ids)
}

/// An abandon of a group, waiting or resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandon {
    pub root: u64,
    pub requested_by: String,
    pub requested_at: UnixTime,
    pub reason: String,
    pub resolution: Option<String>,
    pub resolved_txid: Option<String>,
}

const ABANDON_COLUMNS: &str = "root_session, requested_by, requested_at, reason, resolution, resolved_txid";

/// An abandon row as stored: root, requested by, at, reason, resolution, resolving txid.
type AbandonRow = (i64, String, i64, String, Option<String>, Option<String>);

fn abandon_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AbandonRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn decode_abandon(
    (root, requested_by, at, reason, resolution, resolved_txid): AbandonRow,
) -> Result<Abandon, DbError> {
    Ok(Abandon {
        root: from_sql(root)?,
        requested_by,
        requested_at: UnixTime::from_secs(at),
        reason,
        resolution,
        resolved_txid,
    })
}

pub fn insert_abandon(
    conn: &Connection,
    root: u64,
    requested_by: &str,
    reason: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO session_abandons (root_session, requested_by, requested_at, reason) VALUES (?1, ?2, ?3, ?4)",
        params![sql_id(root), requested_by, now.secs(), reason],
    )?;
    Ok(())
}

pub fn abandon_of(conn: &Connection, root: u64) -> Result<Option<Abandon>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {ABANDON_COLUMNS} FROM session_abandons WHERE root_session = ?1"),
        [sql_id(root)],
        abandon_row,
    )
    .optional()?
    .map(decode_abandon)
    .transpose()
}

/// Abandons still waiting for a conflicting confirmation, oldest first.
pub fn waiting_abandons(conn: &Connection) -> Result<Vec<Abandon>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ABANDON_COLUMNS} FROM session_abandons WHERE resolution IS NULL ORDER BY root_session"
    ))?;
    let rows = stmt.query_map([], abandon_row)?;
    rows.map(|r| decode_abandon(r?)).collect()
}

/// Resolves a waiting abandon (`released` or `moot`); false if it was not waiting.
pub fn resolve_abandon(
    conn: &Connection,
    root: u64,
    resolution: &str,
    txid: &str,
    now: UnixTime,
) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE session_abandons SET resolution = ?2, resolved_txid = ?3, resolved_at = ?4 \
         WHERE root_session = ?1 AND resolution IS NULL",
        params![sql_id(root), resolution, txid, now.secs()],
    )? == 1)
}

/// One entry of a session's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub session_id: u64,
    pub kind: String,
    pub actor: String,
    pub note: String,
    pub recorded_at: UnixTime,
}

pub fn insert_event(
    conn: &Connection,
    session: u64,
    kind: &str,
    actor: &str,
    note: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO session_events (session_id, kind, actor, note, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![sql_id(session), kind, actor, note, now.secs()],
    )?;
    Ok(())
}

pub fn events(conn: &Connection, session: u64) -> Result<Vec<SessionEvent>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, actor, note, recorded_at FROM session_events WHERE session_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([sql_id(session)], |r| {
        Ok(SessionEvent {
            session_id: session,
            kind: r.get(0)?,
            actor: r.get(1)?,
            note: r.get(2)?,
            recorded_at: UnixTime::from_secs(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
