//! The deposit side's rows: deposit wallets and their settings, the addresses issued from
//! them, the deposits the monitor records with their history and tags, and the
//! compliance blocklist.

use super::cached::CachedSql;
use bitcoin::{Amount, BlockHash, OutPoint, Txid};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::rules::deposits::{AddressPolicy, Blocklist, BlocklistEntry, DepositSettings, DepositStatus};
use crate::time::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositWalletRecord {
    pub wallet: String,
    pub settings: DepositSettings,
    pub marked_by: String,
    pub marked_at: UnixTime,
}

/// wallet, policy, gap limit, confirmations, threshold, marked by, marked at.
type RawWallet = (String, String, u32, u32, Option<i64>, String, i64);

fn wallet_from_row(row: &Row<'_>) -> rusqlite::Result<RawWallet> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn decode_wallet(
    (wallet, policy, gap_limit, confirmations, above, marked_by, marked_at): RawWallet,
) -> Result<DepositWalletRecord, DbError> {
    let address_policy = AddressPolicy::from_stored(&policy)
        .ok_or_else(|| DbError::Corrupt(format!("deposit wallet {wallet} address policy {policy:?}")))?;
    Ok(DepositWalletRecord {
        settings: DepositSettings {
            address_policy,
            gap_limit,
            credit_confirmations: confirmations,
            tag_above_sat: above.map(sat_from_sql).transpose()?,
        },
        wallet,
        marked_by,
        marked_at: UnixTime::from_secs(marked_at),
    })
}

const WALLET_COLUMNS: &str =
    "wallet, address_policy, gap_limit, credit_confirmations, tag_above_sat, marked_by, marked_at";

pub fn find_wallet(conn: &Connection, wallet: &str) -> Result<Option<DepositWalletRecord>, DbError> {
    conn.query_row_cached(
        &format!("SELECT {WALLET_COLUMNS} FROM deposit_wallets WHERE wallet = ?1"),
        [wallet],
        wallet_from_row,
    )
    .optional()?
    .map(decode_wallet)
    .transpose()
}

pub fn list_wallets(conn: &Connection) -> Result<Vec<DepositWalletRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {WALLET_COLUMNS} FROM deposit_wallets ORDER BY wallet"
    ))?;
    let rows = stmt.query_map([], wallet_from_row)?;
    rows.map(|r| decode_wallet(r?)).collect()
}

/// Marks `wallet` as a deposit wallet, or replaces its settings.
pub fn set_wallet(
    conn: &Connection,
    wallet: &str,
    settings: &DepositSettings,
    actor: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO deposit_wallets (wallet, address_policy, gap_limit, credit_confirmations, tag_above_sat, marked_by, marked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT(wallet) DO UPDATE SET address_policy = excluded.address_policy, gap_limit = excluded.gap_limit, \
         credit_confirmations = excluded.credit_confirmations, tag_above_sat = excluded.tag_above_sat",
        params![
            wallet,
            settings.address_policy.as_str(),
            settings.gap_limit,
            settings.credit_confirmations,
            settings.tag_above_sat.map(sat_to_sql).transpose()?,
            actor,
            now.secs()
        ],
    )?;
    Ok(())
}

/// One deposit address: issued to a customer, or found unassigned by the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositAddressRecord {
    pub wallet: String,
    pub index: u32,
    pub address: String,
    pub script_pubkey_hex: String,
    /// `None`: issued to no one (the monitor found a payment to it).
    pub customer: Option<String>,
    pub issued_by: Option<String>,
    pub issued_at: UnixTime,
}

const ADDRESS_COLUMNS: &str =
    "wallet, derivation_index, address, script_pubkey, customer_id, issued_by, issued_at";

fn address_from_row(row: &Row<'_>) -> rusqlite::Result<DepositAddressRecord> {
    Ok(DepositAddressRecord {
        wallet: row.get(0)?,
        index: row.get(1)?,
        address: row.get(2)?,
        script_pubkey_hex: row.get(3)?,
        customer: row.get(4)?,
        issued_by: row.get(5)?,
        issued_at: UnixTime::from_secs(row.get(6)?),
    })
}

pub fn insert_address(conn: &Connection, record: &DepositAddressRecord) -> Result<(), DbError> {
    conn.execute_cached(
        &format!("INSERT INTO deposit_addresses ({ADDRESS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            record.wallet,
            record.index,
            record.address,
            record.script_pubkey_hex,
            record.customer,
            record.issued_by,
            record.issued_at.secs()
        ],
    )?;
    Ok(())
}

pub fn address_at(
    conn: &Connection,
    wallet: &str,
    index: u32,
) -> Result<Option<DepositAddressRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            &format!(
                "SELECT {ADDRESS_COLUMNS} FROM deposit_addresses WHERE wallet = ?1 AND derivation_index = ?2"
            ),
            params![wallet, index],
            address_from_row,
        )
        .optional()?)
}

pub fn address_by_script_hex(
    conn: &Connection,
    script_hex: &str,
) -> Result<Option<DepositAddressRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            &format!("SELECT {ADDRESS_COLUMNS} FROM deposit_addresses WHERE script_pubkey = ?1"),
            [script_hex],
            address_from_row,
        )
        .optional()?)
}

/// The address most recently issued to `customer` from `wallet`.
pub fn customer_address(
    conn: &Connection,
    wallet: &str,
    customer: &str,
) -> Result<Option<DepositAddressRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            &format!(
                "SELECT {ADDRESS_COLUMNS} FROM deposit_addresses WHERE wallet = ?1 AND customer_id = ?2 \
                 ORDER BY derivation_index DESC LIMIT 1"
            ),
            params![wallet, customer],
            address_from_row,
        )
        .optional()?)
}

/// Issued addresses of `wallet` that have received nothing yet (the gap).
pub fn unused_issued(conn: &Connection, wallet: &str) -> Result<u32, DbError> {
    Ok(conn.query_row_cached(
        "SELECT COUNT(*) FROM deposit_addresses a WHERE a.wallet = ?1 AND a.customer_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM deposits d WHERE d.wallet = a.wallet AND d.derivation_index = a.derivation_index)",
        [wallet],
        |r| r.get(0),
    )?)
}

/// Addresses in index order, optionally of one wallet or one customer.
pub fn list_addresses(
    conn: &Connection,
    wallet: Option<&str>,
    customer: Option<&str>,
) -> Result<Vec<DepositAddressRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ADDRESS_COLUMNS} FROM deposit_addresses \
         WHERE (?1 IS NULL OR wallet = ?1) AND (?2 IS NULL OR customer_id = ?2) ORDER BY wallet, derivation_index"
    ))?;
    let rows = stmt.query_map(params![wallet, customer], address_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One deposit, with the address it paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRecord {
    pub id: u64,
    pub outpoint: OutPoint,
    pub wallet: String,
    pub index: u32,
    pub address: String,
    pub customer: Option<String>,
    pub amount: Amount,
    pub block: Option<(u32, BlockHash)>,
    pub status: DepositStatus,
    pub first_seen_at: UnixTime,
    pub updated_at: UnixTime,
}

const DEPOSIT_COLUMNS: &str =
    "d.id, d.txid, d.vout, d.wallet, d.derivation_index, a.address, d.customer_id, \
     d.amount_sat, d.block_height, d.block_hash, d.status, d.first_seen_at, d.updated_at";
const DEPOSIT_FROM: &str = "deposits d JOIN deposit_addresses a \
     ON a.wallet = d.wallet AND a.derivation_index = d.derivation_index";

type RawDeposit = (
    u64,
    String,
    u32,
    String,
    u32,
    String,
    Option<String>,
    i64,
    Option<u32>,
    Option<String>,
    String,
    i64,
    i64,
);

fn deposit_from_row(r: &Row<'_>) -> rusqlite::Result<RawDeposit> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn decode_deposit(raw: RawDeposit) -> Result<DepositRecord, DbError> {
    let (id, txid, vout, wallet, index, address, customer, amount, height, hash, status, first, updated) =
        raw;
    let corrupt = |what: &str| DbError::Corrupt(format!("deposit {id}: {what}"));
    let txid: Txid = txid.parse().map_err(|_| corrupt("txid"))?;
    let block = match (height, hash) {
        (Some(height), Some(hash)) => Some((height, hash.parse().map_err(|_| corrupt("block hash"))?)),
        (None, None) => None,
        _ => return Err(corrupt("block")),
    };
    Ok(DepositRecord {
        id,
        outpoint: OutPoint { txid, vout },
        wallet,
        index,
        address,
        customer,
        amount: sat_from_sql(amount)?,
        block,
        status: status.parse().map_err(|_| corrupt("status"))?,
        first_seen_at: UnixTime::from_secs(first),
        updated_at: UnixTime::from_secs(updated),
    })
}

fn query_deposits(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<DepositRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {DEPOSIT_COLUMNS} FROM {DEPOSIT_FROM} {filter}"))?;
    let rows = stmt.query_map(params, deposit_from_row)?;
    rows.map(|r| decode_deposit(r?)).collect()
}

pub fn find(conn: &Connection, id: u64) -> Result<Option<DepositRecord>, DbError> {
    Ok(query_deposits(conn, "WHERE d.id = ?1", [id])?.pop())
}

pub fn find_by_outpoint(conn: &Connection, outpoint: &OutPoint) -> Result<Option<DepositRecord>, DbError> {
    Ok(query_deposits(
        conn,
        "WHERE d.txid = ?1 AND d.vout = ?2",
        params![outpoint.txid.to_string(), outpoint.vout],
    )?
    .pop())
}

/// Deposits, newest first, optionally by status and customer.
pub fn list(
    conn: &Connection,
    status: Option<DepositStatus>,
    customer: Option<&str>,
    limit: u32,
) -> Result<Vec<DepositRecord>, DbError> {
    query_deposits(
        conn,
        "WHERE (?1 IS NULL OR d.status = ?1) AND (?2 IS NULL OR d.customer_id = ?2) ORDER BY d.id DESC LIMIT ?3",
        params![status.map(DepositStatus::as_str), customer, limit],
    )
}

/// Deposits whose block is at `height` or above (what a rollback to below it undoes).
pub fn in_blocks_from(conn: &Connection, height: u32) -> Result<Vec<DepositRecord>, DbError> {
    query_deposits(conn, "WHERE d.block_height >= ?1 ORDER BY d.id", [height])
}

/// Pending deposits in a block (candidates for credit).
pub fn pending_in_blocks(conn: &Connection) -> Result<Vec<DepositRecord>, DbError> {
    query_deposits(
        conn,
        "WHERE d.status = 'pending' AND d.block_height IS NOT NULL ORDER BY d.id",
        [],
    )
}

/// A deposit as the monitor first sees it.
#[derive(Debug, Clone, Copy)]
pub struct NewDeposit<'a> {
    pub outpoint: OutPoint,
    pub wallet: &'a str,
    pub index: u32,
    pub customer: Option<&'a str>,
    pub amount: Amount,
    pub block: (u32, BlockHash),
    pub status: DepositStatus,
}

pub fn insert(conn: &Connection, deposit: &NewDeposit<'_>, now: UnixTime) -> Result<u64, DbError> {
    conn.execute_cached(
        "INSERT INTO deposits (txid, vout, wallet, derivation_index, customer_id, amount_sat, block_height, \
         block_hash, status, first_seen_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            deposit.outpoint.txid.to_string(),
            deposit.outpoint.vout,
            deposit.wallet,
            deposit.index,
            deposit.customer,
            sat_to_sql(deposit.amount)?,
            deposit.block.0,
            deposit.block.1.to_string(),
            deposit.status.as_str(),
            now.secs()
        ],
    )?;
    u64::try_from(conn.last_insert_rowid()).map_err(|_| DbError::Corrupt("deposit id".to_owned()))
}

/// Moves a deposit from `from` to `to`; false if it was not in `from`.
pub fn transition(
    conn: &Connection,
    id: u64,
    from: DepositStatus,
    to: DepositStatus,
    now: UnixTime,
) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE deposits SET status = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?2",
        params![id, from.as_str(), to.as_str(), now.secs()],
    )? == 1)
}

pub fn set_block(
    conn: &Connection,
    id: u64,
    block: Option<(u32, &BlockHash)>,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "UPDATE deposits SET block_height = ?2, block_hash = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, block.map(|b| b.0), block.map(|b| b.1.to_string()), now.secs()],
    )?;
    Ok(())
}

/// One line of a deposit's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositEvent {
    pub kind: String,
    pub actor: String,
    pub note: String,
    pub recorded_at: UnixTime,
}

pub fn insert_event(
    conn: &Connection,
    id: u64,
    kind: &str,
    actor: &str,
    note: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO deposit_events (deposit_id, kind, actor, note, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, kind, actor, note, now.secs()],
    )?;
    Ok(())
}

pub fn events(conn: &Connection, id: u64) -> Result<Vec<DepositEvent>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, actor, note, recorded_at FROM deposit_events WHERE deposit_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(DepositEvent {
            kind: r.get(0)?,
            actor: r.get(1)?,
            note: r.get(2)?,
            recorded_at: UnixTime::from_secs(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One reason a deposit is tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositTag {
    pub rule: String,
    pub detail: String,
    pub tagged_by: String,
    pub tagged_at: UnixTime,
}

pub fn insert_tag(
    conn: &Connection,
    id: u64,
    rule: &str,
    detail: &str,
    by: &str,
    now: UnixTime,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO deposit_tags (deposit_id, rule, detail, tagged_by, tagged_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, rule, detail, by, now.secs()],
    )?;
    Ok(())
}

pub fn tags(conn: &Connection, id: u64) -> Result<Vec<DepositTag>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rule, detail, tagged_by, tagged_at FROM deposit_tags WHERE deposit_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(DepositTag {
            rule: r.get(0)?,
            detail: r.get(1)?,
            tagged_by: r.get(2)?,
            tagged_at: UnixTime::from_secs(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds an entry; false if it was already listed (an inactive one is listed again).
pub fn blocklist_add(
    conn: &Connection,
    entry: &BlocklistEntry,
    note: &str,
    by: &str,
    now: UnixTime,
) -> Result<bool, DbError> {
    let reactivated = conn.execute_cached(
        "UPDATE blocklist SET active = 1 WHERE entry = ?1 AND active = 0",
        [entry.key()],
    )?;
    let inserted = conn.execute_cached(
        "INSERT OR IGNORE INTO blocklist (entry, kind, note, active, added_by, added_at) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
        params![entry.key(), entry.kind(), note, by, now.secs()],
    )?;
    Ok(reactivated + inserted > 0)
}

/// The active entries, for the tagging rules.
pub fn blocklist(conn: &Connection, network: bitcoin::Network) -> Result<Blocklist, DbError> {
    let mut stmt = conn.prepare_cached("SELECT entry FROM blocklist WHERE active = 1")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut list = Blocklist::default();
    for row in rows {
        let text = row?;
        let entry = BlocklistEntry::parse(&text, network)
            .map_err(|e| DbError::Corrupt(format!("blocklist entry {text:?}: {e}")))?;
        list.insert(entry);
    }
    Ok(list)
}

/// Number of active entries.
pub fn blocklist_len(conn: &Connection) -> Result<u32, DbError> {
    Ok(
        conn.query_row_cached("SELECT COUNT(*) FROM blocklist WHERE active = 1", [], |r| {
            r.get(0)
        })?,
    )
}

/// A decision about a tagged deposit (`deposit_resolutions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRecord {
    pub id: u64,
    pub deposit_id: u64,
    /// `return_to_owner` or `transfer_to_authority`.
    pub action: String,
    pub destination: String,
    pub reason: String,
    pub proposed_by: String,
    pub proposed_at: UnixTime,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<UnixTime>,
    pub decision_note: Option<String>,
}

const RESOLUTION_COLUMNS: &str =
    "id, deposit_id, action, destination, reason, proposed_by, proposed_at, status, \
     decided_by, decided_at, decision_note";

fn resolution_from_row(r: &Row<'_>) -> rusqlite::Result<ResolutionRecord> {
    Ok(ResolutionRecord {
        id: r.get(0)?,
        deposit_id: r.get(1)?,
        action: r.get(2)?,
        destination: r.get(3)?,
        reason: r.get(4)?,
        proposed_by: r.get(5)?,
        proposed_at: UnixTime::from_secs(r.get(6)?),
        status: r.get(7)?,
        decided_by: r.get(8)?,
        decided_at: r.get::<_, Option<i64>>(9)?.map(UnixTime::from_secs),
        decision_note: r.get(10)?,
    })
}

pub fn insert_resolution(
    conn: &Connection,
    deposit_id: u64,
    action: &str,
    destination: &str,
    reason: &str,
    by: &str,
    now: UnixTime,
) -> Result<u64, DbError> {
    conn.execute_cached(
        "INSERT INTO deposit_resolutions (deposit_id, action, destination, reason, proposed_by, proposed_at, status) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
        params![deposit_id, action, destination, reason, by, now.secs()],
    )?;
    u64::try_from(conn.last_insert_rowid()).map_err(|_| DbError::Corrupt("resolution id".to_owned()))
}

pub fn find_resolution(conn: &Connection, id: u64) -> Result<Option<ResolutionRecord>, DbError> {
    Ok(conn
        .query_row_cached(
            &format!("SELECT {RESOLUTION_COLUMNS} FROM deposit_resolutions WHERE id = ?1"),
            [id],
            resolution_from_row,
        )
        .optional()?)
}

/// Resolutions, oldest first, optionally of one deposit.
pub fn resolutions(conn: &Connection, deposit_id: Option<u64>) -> Result<Vec<ResolutionRecord>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RESOLUTION_COLUMNS} FROM deposit_resolutions WHERE (?1 IS NULL OR deposit_id = ?1) ORDER BY id"
    ))?;
    let rows = stmt.query_map([deposit_id], resolution_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Decides a pending resolution; false if it was not pending.
pub fn decide_resolution(
    conn: &Connection,
    id: u64,
    approved: bool,
    by: &str,
    note: &str,
    now: UnixTime,
) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE deposit_resolutions SET status = ?2, decided_by = ?3, decided_at = ?4, decision_note = ?5 \
         WHERE id = ?1 AND status = 'pending'",
        params![
            id,
            if approved { "approved" } else { "rejected" },
            by,
            now.secs(),
            note
        ],
    )? == 1)
}
