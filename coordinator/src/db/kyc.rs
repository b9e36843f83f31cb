//! Customers' KYC status (`customers.kyc_status`, `kyc_verified_until`) and its
//! append-only history.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::rules::kyc::KycStatus;
use crate::time::UnixTime;

/// A change of KYC status, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KycEvent {
    pub status: KycStatus,
    pub actor: String,
    pub note: String,
    pub recorded_at: UnixTime,
}

fn decode(customer: &str, status: &str, until: Option<i64>) -> Result<KycStatus, DbError> {
    KycStatus::from_stored(status, until.map(UnixTime::from_secs))
        .ok_or_else(|| DbError::Corrupt(format!("customer {customer} has KYC status {status:?}")))
}

/// The customer's KYC status, or `None` for an unknown customer.
pub fn status(conn: &Connection, customer: &str) -> Result<Option<KycStatus>, DbError> {
    let row: Option<(String, Option<i64>)> = conn
        .query_row_cached(
            "SELECT kyc_status, kyc_verified_until FROM customers WHERE id = ?1",
            [customer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(status, until)| decode(customer, &status, until))
        .transpose()
}

/// Sets the status and records why, in the caller's transaction. False: no such customer.
pub fn set(
    conn: &Connection,
    customer: &str,
    status: KycStatus,
    actor: &str,
    note: &str,
    now: UnixTime,
) -> Result<bool, DbError> {
    let until = status.until().map(UnixTime::secs);
    if conn.execute_cached(
        "UPDATE customers SET kyc_status = ?2, kyc_verified_until = ?3 WHERE id = ?1",
        params![customer, status.as_str(), until],
    )? != 1
    {
        return Ok(false);
    }
    conn.execute_cached(
        "INSERT INTO customer_kyc_events (customer_id, kyc_status, verified_until, actor, note, recorded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![customer, status.as_str(), until, actor, note, now.secs()],
    )?;
    Ok(true)
}

pub fn history(conn: &Connection, customer: &str) -> Result<Vec<KycEvent>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kyc_status, verified_until, actor, note, recorded_at FROM customer_kyc_events \
         WHERE customer_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([customer], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (status, until, actor, note, at) = row?;
        Ok(KycEvent {
            status: decode(customer, &status, until)?,
            actor,
            note,
            recorded_at: UnixTime::from_secs(at),
        })
    })
    .collect()
}
