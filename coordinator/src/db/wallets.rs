//! Wallets (descriptors, approval policy, daily limit, next address indexes) and the
//! addresses handed out from them.

use super::cached::CachedSql;
use bitcoin::Amount;
use rusqlite::{params, Connection, OptionalExtension, Row};
use sluice_shared::descriptor::{Branch, SWEEP_INDEX_BASE};

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::rules::policy::ApprovalPolicy;
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletRecord {
    pub name: String,
    pub wallet_id: String,
    /// `wpkh` or `wsh-sortedmulti-M-of-N`, for people; the descriptors are the truth.
    pub kind: String,
    pub receive_descriptor: String,
    pub change_descriptor: String,
    pub policy: ApprovalPolicy,
    pub daily_limit: Amount,
    pub next_receive_index: u32,
    pub next_change_index: u32,
    pub created_at: UnixTime,
}

/// A new wallet, before it has handed out any address.
#[derive(Debug, Clone)]
pub struct NewWallet<'a> {
    pub name: &'a str,
    pub wallet_id: &'a str,
    pub kind: &'a str,
    pub receive_descriptor: &'a str,
    pub change_descriptor: &'a str,
    pub policy: &'a ApprovalPolicy,
    pub daily_limit: Amount,
}

const COLUMNS: &str = "name, wallet_id, kind, receive_descriptor, change_descriptor, approval_policy, \
                       daily_limit_sat, next_receive_index, next_change_index, created_at";

type RawWallet = (String, String, String, String, String, String, i64, i64, i64, i64);

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawWallet> {
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

fn index(name: &str, value: i64) -> Result<u32, DbError> {
    u32::try_from(value).map_err(|_| DbError::Corrupt(format!("wallet {name} has address index {value}")))
}

fn decode(raw: RawWallet) -> Result<WalletRecord, DbError> {
    let (name, wallet_id, kind, receive, change, policy, limit, next_receive, next_change, created_at) = raw;
    let policy: ApprovalPolicy = serde_json::from_str(&policy)
        .map_err(|e| DbError::Corrupt(format!("wallet {name} approval policy: {e}")))?;
    Ok(WalletRecord {
        wallet_id,
        kind,
        receive_descriptor: receive,
        change_descriptor: change,
        policy,
        daily_limit: sat_from_sql(limit)?,
        next_receive_index: index(&name, next_receive)?,
        next_change_index: index(&name, next_change)?,
        created_at: UnixTime::from_secs(created_at),
        name,
    })
}

fn policy_json(policy: &ApprovalPolicy) -> Result<String, DbError> {
    serde_json::to_string(policy).map_err(|e| DbError::Corrupt(format!("approval policy: {e}")))
}

pub fn insert(conn: &Connection, wallet: &NewWallet<'_>, now: UnixTime) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO wallets (name, wallet_id, kind, receive_descriptor, change_descriptor, approval_policy, \
         daily_limit_sat, next_receive_index, next_change_index, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, ?8)",
        params![
            wallet.name,
            wallet.wallet_id,
            wallet.kind,
            wallet.receive_descriptor,
            wallet.change_descriptor,
            policy_json(wallet.policy)?,
            sat_to_sql(wallet.daily_limit)?,
            now.secs()
        ],
    )?;
    Ok(())
}

pub fn find(conn: &Connection, name: &str) -> Result<Option<WalletRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM wallets WHERE name = ?1"),
        [name],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

pub fn find_by_wallet_id(conn: &Connection, wallet_id: &str) -> Result<Option<WalletRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {COLUMNS} FROM wallets WHERE wallet_id = ?1"),
        [wallet_id],
        from_row,
    )
    .optional()?
    .map(decode)
    .transpose()
}

pub fn list(conn: &Connection) -> Result<Vec<WalletRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM wallets ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| decode(r?)).collect()
}

pub fn set_policy(conn: &Connection, name: &str, policy: &ApprovalPolicy) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE wallets SET approval_policy = ?2 WHERE name = ?1",
        params![name, policy_json(policy)?],
    )? == 1)
}

pub fn set_daily_limit(conn: &Connection, name: &str, limit: Amount) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE wallets SET daily_limit_sat = ?2 WHERE name = ?1",
        params![name, sat_to_sql(limit)?],
    )? == 1)
}

/// Takes the next unused index on `branch` (the caller derives and records the address in
/// the same transaction). Indexes only grow, so no address is handed out twice.
pub fn take_next_index(conn: &Connection, name: &str, branch: Branch) -> Result<u32, DbError> {
    let column = match branch {
        Branch::Receive => "next_receive_index",
        Branch::Change => "next_change_index",
    };
    let current: i64 = conn.query_row_cached(
        &format!("SELECT {column} FROM wallets WHERE name = ?1"),
        [name],
        |r| r.get(0),
    )?;
    let index = index(name, current)?;
    // Unhardened BIP32 indexes stop below 2^31; on the receive branch the shadow's sweep
    // range starts at SWEEP_INDEX_BASE and is never handed out here.
    let end = match branch {
        Branch::Receive => SWEEP_INDEX_BASE,
        Branch::Change => (1 << 31) - 1,
    };
    if index >= end {
        return Err(DbError::Corrupt(format!(
            "wallet {name} has used every {column} address"
        )));
    }
    conn.execute_cached(
        &format!("UPDATE wallets SET {column} = {column} + 1 WHERE name = ?1"),
        [name],
    )?;
    Ok(index)
}

/// Records an address the coordinator derived, so the monitor can map its script back.
pub fn insert_address(
    conn: &Connection,
    wallet: &str,
    branch: Branch,
    index: u32,
    address: &str,
    script_pubkey_hex: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO wallet_addresses (wallet, branch, derivation_index, address, script_pubkey, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![wallet, branch.number(), index, address, script_pubkey_hex, now.secs()],
    )?;
    Ok(())
}

/// The first reserved sweep index of `wallet` (at or above [`SWEEP_INDEX_BASE`]) that no
/// coin seen on chain has paid yet.
pub fn next_sweep_index(conn: &Connection, wallet: &str) -> Result<u32, DbError> {
    let highest: Option<i64> = conn.query_row_cached(
        "SELECT MAX(derivation_index) FROM wallet_addresses \
         WHERE wallet = ?1 AND branch = ?2 AND derivation_index >= ?3",
        params![wallet, Branch::Receive.number(), SWEEP_INDEX_BASE],
        |r| r.get(0),
    )?;
    match highest {
        None => Ok(SWEEP_INDEX_BASE),
        Some(highest) => Ok(index(wallet, highest)?.saturating_add(1)),
    }
}

/// The wallet address with this script: (wallet, branch, index).
pub fn address_by_script(
    conn: &Connection,
    script_pubkey: &bitcoin::Script,
) -> Result<Option<(String, Branch, u32)>, DbError> {
    let row: Option<(String, u32, u32)> = conn
        .query_row_cached(
            "SELECT wallet, branch, derivation_index FROM wallet_addresses WHERE script_pubkey = ?1",
            [hex::encode(script_pubkey.as_bytes())],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(wallet, branch, index)| {
        let branch = Branch::from_number(branch)
            .ok_or_else(|| DbError::Corrupt(format!("wallet {wallet}: address branch {branch}")))?;
        Ok((wallet, branch, index))
    })
    .transpose()
}
