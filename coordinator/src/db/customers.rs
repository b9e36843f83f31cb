//! Customers and their registered beneficiary addresses.

use super::cached::CachedSql;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbError;
use crate::rules::intake::CustomerStatus;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    pub id: String,
    pub status: CustomerStatus,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeneficiaryRecord {
    pub customer_id: String,
    /// Canonical form (`Address`'s `Display`).
    pub address: String,
    pub label: String,
    pub network: String,
    pub active: bool,
    pub created_at: UnixTime,
}

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode_customer((id, status, created_at): (String, String, i64)) -> Result<CustomerRecord, DbError> {
    Ok(CustomerRecord {
        status: CustomerStatus::parse(&status)
            .ok_or_else(|| DbError::Corrupt(format!("customer {id} has status {status:?}")))?,
        id,
        created_at: UnixTime::from_secs(created_at),
    })
}

pub fn insert(conn: &Connection, id: &str, now: UnixTime) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO customers (id, status, created_at) VALUES (?1, 'active', ?2)",
        params![id, now.secs()],
    )?;
    Ok(())
}

pub fn find(conn: &Connection, id: &str) -> Result<Option<CustomerRecord>, DbError> {
    conn.query_row_cached(
        "SELECT id, status, created_at FROM customers WHERE id = ?1",
        [id],
        customer_from_row,
    )
    .optional()?
    .map(decode_customer)
    .transpose()
}

pub fn list(conn: &Connection) -> Result<Vec<CustomerRecord>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT id, status, created_at FROM customers ORDER BY id")?;
    let rows = stmt.query_map([], customer_from_row)?;
    rows.map(|r| decode_customer(r?)).collect()
}

pub fn set_status(conn: &Connection, id: &str, status: CustomerStatus) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE customers SET status = ?2 WHERE id = ?1",
        params![id, status.as_str()],
    )? == 1)
}

const BENEFICIARY_COLUMNS: &str = "customer_id, address, label, network, active, created_at";

fn beneficiary_from_row(row: &Row<'_>) -> rusqlite::Result<BeneficiaryRecord> {
    Ok(BeneficiaryRecord {
        customer_id: row.get(0)?,
        address: row.get(1)?,
        label: row.get(2)?,
        network: row.get(3)?,
        active: row.get(4)?,
        created_at: UnixTime::from_secs(row.get(5)?),
    })
}

pub fn insert_beneficiary(
    conn: &Connection,
    customer_id: &str,
    address: &str,
    label: &str,
    network: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO beneficiaries (customer_id, address, label, network, active, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)",
        params![customer_id, address, label, network, now.secs()],
    )?;
    Ok(())
}

pub fn find_beneficiary(
    conn: &Connection,
    customer_id: &str,
    address: &str,
) -> Result<Option<BeneficiaryRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            &format!(
                "SELECT {BENEFICIARY_COLUMNS} FROM beneficiaries WHERE customer_id = ?1 AND address = ?2"
            ),
            [customer_id, address],
            beneficiary_from_row,
        )
        .optional()?)
}

/// One customer's beneficiaries, or (`None`) every customer's, by customer then age.
pub fn list_beneficiaries(
    conn: &Connection,
    customer_id: Option<&str>,
) -> Result<Vec<BeneficiaryRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {BENEFICIARY_COLUMNS} FROM beneficiaries WHERE ?1 IS NULL OR customer_id = ?1 \
         ORDER BY customer_id, id"
    ))?;
    let rows = stmt.query_map([customer_id], beneficiary_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_beneficiary_active(
    conn: &Connection,
    customer_id: &str,
    address: &str,
    active: bool,
) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE beneficiaries SET active = ?3 WHERE customer_id = ?1 AND address = ?2",
        params![customer_id, address, active],
    )? == 1)
}
