//! Risk flags on withdrawals, the risk thresholds, and the facts the risk rules read.

use super::cached::CachedSql;
use bitcoin::Amount;
use rusqlite::{params, Connection, OptionalExtension};
use sluice_shared::api::{RiskFlag, RiskFlagKind};

use super::{sat_from_sql, DbError};
use crate::rules::risk::RiskSettings;
use crate::time::UnixTime;

fn id_to_sql(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

pub fn insert_flag(
    conn: &Connection,
    withdrawal_id: u64,
    flag: &RiskFlag,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO risk_flags (withdrawal_id, kind, reason, recorded_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            id_to_sql(withdrawal_id),
            flag.kind.as_str(),
            flag.reason,
            now.secs()
        ],
    )?;
    Ok(())
}

pub fn flags(conn: &Connection, withdrawal_id: u64) -> Result<Vec<RiskFlag>, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT kind, reason FROM risk_flags WHERE withdrawal_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([id_to_sql(withdrawal_id)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (kind, reason) = row?;
        Ok(RiskFlag {
            kind: RiskFlagKind::parse(&kind)
                .ok_or_else(|| DbError::Corrupt(format!("risk flag kind {kind:?}")))?,
            reason,
        })
    })
    .collect()
}

pub fn is_flagged(conn: &Connection, withdrawal_id: u64) -> Result<bool, DbError> {
    Ok(conn
        .query_row_cached(
            "SELECT 1 FROM risk_flags WHERE withdrawal_id = ?1 LIMIT 1",
            [id_to_sql(withdrawal_id)],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The thresholds in force (the defaults until an admin changes them).
pub fn settings(conn: &Connection) -> Result<RiskSettings, DbError> {
    let text: Option<String> = conn
        .query_row_cached("SELECT settings FROM risk_settings WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    match text {
        None => Ok(RiskSettings::default()),
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| DbError::Corrupt(format!("risk settings: {e}")))
        }
    }
}

pub fn set_settings(
    conn: &Connection,
    settings: &RiskSettings,
    now: UnixTime,
    by: &str,
) -> Result<(), DbError> {
    let text =
        serde_json::to_string(settings).map_err(|e| DbError::Corrupt(format!("risk settings: {e}")))?;
    conn.execute_cached(
        "INSERT INTO risk_settings (id, settings, updated_at, updated_by) VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT(id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
        params![text, now.secs(), by],
    )?;
    Ok(())
}

/// Stops at the first such withdrawal in the index (migration 17; `db_tests` checks the
/// plan): counting them all made each request read every withdrawal the customer had made
/// to the destination, so intake slowed down as a busy customer's history grew.
pub(crate) const EARLIER_TO_DESTINATION: &str = "SELECT EXISTS (SELECT 1 FROM withdrawals \
     WHERE customer_id = ?1 AND destination = ?2 AND rejected = 0)";

/// Whether the customer withdrew to `destination` before (not counting rejected requests).
pub fn earlier_to_destination(
    conn: &Connection,
    customer_id: &str,
    destination: &str,
) -> Result<bool, DbError> {
    Ok(
        conn.query_row_cached(EARLIER_TO_DESTINATION, params![customer_id, destination], |r| {
            r.get(0)
        })?,
    )
}

/// Walks the customer's withdrawals newest first in their index (migration 19), so a
/// request reads about `limit` rows, not every withdrawal the customer made (`db_tests`
/// checks the plan).
pub(crate) const RECENT_AMOUNTS: &str = "SELECT amount_sat FROM withdrawals \
     WHERE customer_id = ?1 AND rejected = 0 ORDER BY id DESC LIMIT ?2";

/// The amounts of the customer's latest `limit` withdrawals that were not rejected.
pub fn recent_amounts(conn: &Connection, customer_id: &str, limit: u32) -> Result<Vec<Amount>, DbError> {
    let mut stmt = conn.prepare_cached(RECENT_AMOUNTS)?;
    let rows = stmt.query_map(params![customer_id, limit], |r| r.get::<_, i64>(0))?;
    rows.map(|row| sat_from_sql(row?)).collect()
}

/// Reads only the window's entries of the index (migration 17; `db_tests` checks the plan).
pub(crate) const VELOCITY_WINDOW: &str = "SELECT COUNT(*), COALESCE(SUM(amount_sat), 0) FROM withdrawals \
     WHERE customer_id = ?1 AND created_at >= ?2 AND rejected = 0";

/// How many withdrawals (not rejected) the customer requested since `since`, and their sum.
pub fn since(conn: &Connection, customer_id: &str, since: UnixTime) -> Result<(u64, Amount), DbError> {
    let (n, sum): (i64, i64) =
        conn.query_row_cached(VELOCITY_WINDOW, params![customer_id, since.secs()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok((u64::try_from(n).unwrap_or_default(), sat_from_sql(sum)?))
}

/// The withdrawals to the destination are read in two ranges of their index, the
/// customers before and after this one, so the customer's own withdrawals there (usually
/// all of them) are skipped, not read (`db_tests` checks the plan).
pub(crate) const OTHER_CUSTOMERS: &str = "\
    SELECT customer_id FROM beneficiaries WHERE address = ?1 AND customer_id != ?2 \
    UNION SELECT customer_id FROM withdrawals WHERE destination = ?1 AND customer_id < ?2 \
    UNION SELECT customer_id FROM withdrawals WHERE destination = ?1 AND customer_id > ?2 \
    ORDER BY 1 LIMIT 20";

/// Other customers who have `destination` registered as a beneficiary or withdrew to it.
pub fn other_customers(
    conn: &Connection,
    customer_id: &str,
    destination: &str,
) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(OTHER_CUSTOMERS)?;
    let rows = stmt.query_map(params![destination, customer_id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
