//! Reading signing sessions for people: `session list|show` and their JSON.

use crate::db::cached::CachedSql;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{require, Actor, Coordinator, ServiceError};
use crate::db::sessions;
use crate::rules::roles::Permission;

/// The session statuses (`signing_sessions.status`).
pub const SESSION_STATUSES: [&str; 5] = ["open", "signed", "broadcast", "confirmed", "abandoned"];

/// The most sessions one list returns.
const MAX_SESSION_LIST: u32 = 500;

/// One signing session as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: u64,
    pub wallet: String,
    pub status: String,
    pub txid: String,
    pub fee_sat: u64,
    pub change_sat: Option<u64>,
    /// The withdrawals it pays, by output index.
    pub withdrawals: Vec<u64>,
    /// Partial signatures stored, and the names of the registered signers they came from.
    pub signatures: u64,
    pub signed_by: Vec<String>,
    /// The block its transaction is in, once confirmed.
    pub block_height: Option<u64>,
    pub created_by: String,
    pub created_at: i64,
}

fn summary(conn: &Connection, id: u64) -> Result<Option<SessionSummary>, ServiceError> {
    let Some(record) = sessions::find(conn, id)? else {
        return Ok(None);
    };
    let sql_id = i64::try_from(id).unwrap_or(-1);
    let signatures: i64 = conn.query_row_cached(
        "SELECT COUNT(*) FROM partial_signatures WHERE session_id = ?1",
        [sql_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT s.name FROM partial_signatures p JOIN signers s ON s.signer_id = p.signer_id \
         WHERE p.session_id = ?1 ORDER BY s.name",
    )?;
    let signed_by = stmt
        .query_map([sql_id], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let block_height: Option<i64> = conn
        .query_row_cached(
            "SELECT block_height FROM broadcasts WHERE session_id = ?1",
            [sql_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(Some(SessionSummary {
        id: record.id,
        wallet: record.wallet,
        status: record.status,
        txid: record.unsigned_txid.to_string(),
        fee_sat: record.fee.to_sat(),
        change_sat: record.change.map(|c| c.to_sat()),
        withdrawals: record.withdrawals.iter().map(|(w, _)| *w).collect(),
        signatures: u64::try_from(signatures).unwrap_or(0),
        signed_by,
        block_height: block_height.and_then(|h| u64::try_from(h).ok()),
        created_by: record.created_by,
        created_at: record.created_at.secs(),
    }))
}

impl Coordinator {
    /// Sessions newest first, optionally of one status.
    pub fn list_sessions(
        &mut self,
        actor: &Actor,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        if let Some(status) = status {
            if !SESSION_STATUSES.contains(&status) {
                return Err(ServiceError::Invalid(format!(
                    "unknown session status {status:?}: use one of {}",
                    SESSION_STATUSES.join(", ")
                )));
            }
        }
        if limit == 0 || limit > MAX_SESSION_LIST {
            return Err(ServiceError::Invalid(format!(
                "limit must be between 1 and {MAX_SESSION_LIST}"
            )));
        }
        let tx = self.db.read()?;
        let ids: Vec<i64> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id FROM signing_sessions WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(rusqlite::params![status, limit], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut list = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = summary(&tx, u64::try_from(id).unwrap_or_default())? {
                list.push(s);
            }
        }
        Ok(list)
    }

    pub fn session_summary(&mut self, actor: &Actor, id: u64) -> Result<SessionSummary, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        summary(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))
    }
}
