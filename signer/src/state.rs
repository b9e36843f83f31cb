//! The signer's state in SQLite: wallets, limits, reservations, applied limit commands
//! and the journal. Every change and its journal entry commit in one transaction, with
//! `synchronous=FULL` so a committed reservation survives power loss.

use std::path::Path;

use anyhow::{bail, Context, Result};
use bitcoin::{Amount, Network};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::journal::{verify_chain, JournalEntry, JournalHead};
use sluice_shared::limiter::FlowLimiter;
use sluice_shared::network::{network_name, parse_network};

use crate::clock;

/// Schema versions, applied in order; `PRAGMA user_version` records the last applied.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE wallets (
        name TEXT PRIMARY KEY,
        wallet_id TEXT NOT NULL UNIQUE,
        receive_descriptor TEXT NOT NULL,
        change_descriptor TEXT NOT NULL,
        registered_at INTEGER NOT NULL
    );
    CREATE TABLE limiters (
        asset TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        max_fee_sat INTEGER NOT NULL
    );
    CREATE TABLE reservations (
        txid TEXT PRIMARY KEY,
        wallet TEXT NOT NULL,
        asset TEXT NOT NULL,
        outflow_sat INTEGER NOT NULL,
        reserved_at INTEGER NOT NULL
    );
    CREATE TABLE applied_commands (
        command_id TEXT PRIMARY KEY,
        applied_at INTEGER NOT NULL,
        description TEXT NOT NULL
    );
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY,
        recorded_at INTEGER NOT NULL,
        event TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
"#];

/// An open state database.
#[derive(Debug)]
pub struct State {
    conn: Connection,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        bail!("the state database is from a newer sluice-signer (schema {version}); upgrade the signer");
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying schema migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Appends a journal entry inside `tx`, updating the stored head.
pub fn journal(tx: &Transaction<'_>, event: &str, details: Value) -> Result<JournalEntry> {
    let head: Option<JournalHead> = match meta(tx, "journal_head")? {
        Some(text) => Some(serde_json::from_str(&text).context("the stored journal head is corrupt")?),
        None => None,
    };
    let prev = match head {
        Some(h) => {
            Some(read_entry(tx, h.seq)?.with_context(|| format!("journal entry {} is missing", h.seq))?)
        }
        None => None,
    };
    let entry = JournalEntry::append(prev.as_ref(), clock::unix_now(), event, details);
    tx.execute(
        "INSERT INTO journal (seq, recorded_at, event, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            i64::try_from(entry.seq)?,
            entry.recorded_at,
            entry.event,
            entry.details.to_string(),
            hex::encode(entry.prev_hash),
            hex::encode(entry.hash)
        ],
    )?;
    set_meta(tx, "journal_head", &serde_json::to_string(&entry.head())?)?;
    Ok(entry)
}

fn hash32(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text).context("journal hash is not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("journal hash is not 32 bytes"))
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, i64, String, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn to_entry(raw: (i64, i64, String, String, String, String)) -> Result<JournalEntry> {
    let (seq, recorded_at, event, details, prev_hash, hash) = raw;
    Ok(JournalEntry {
        seq: u64::try_from(seq)?,
        recorded_at,
        event,
        details: serde_json::from_str(&details).with_context(|| format!("journal entry {seq} details"))?,
        prev_hash: hash32(&prev_hash)?,
        hash: hash32(&hash)?,
    })
}

fn read_entry(conn: &Connection, seq: u64) -> Result<Option<JournalEntry>> {
    let raw = conn
        .query_row(
            "SELECT seq, recorded_at, event, details, prev_hash, hash FROM journal WHERE seq = ?1",
            [i64::try_from(seq)?],
            entry_from_row,
        )
        .optional()?;
    raw.map(to_entry).transpose()
}

/// A registered wallet.
#[derive(Debug, Clone)]
pub struct RegisteredWallet {
    pub name: String,
    pub descriptor: WalletDescriptor,
}

/// A limiter with the signer's fee cap for that asset.
#[derive(Debug, Clone)]
pub struct AssetLimits {
    pub limiter: FlowLimiter,
    pub max_fee: Amount,
}

impl State {
    /// Creates a new state database for a new signer.
    pub fn create(path: &Path, network: Network) -> Result<State> {
        if path.exists() {
            bail!(
                "{} already exists: refusing to overwrite a signer's state",
                path.display()
            );
        }
        let mut state = State::open_unchecked(path)?;
        let tx = state.begin()?;
        set_meta(&tx, "network", network_name(network))?;
        journal(
            &tx,
            "initialized",
            serde_json::json!({ "network": network_name(network) }),
        )?;
        tx.commit()?;
        Ok(state)
    }

    /// Opens an existing state database.
    pub fn open(path: &Path) -> Result<State> {
        if !path.exists() {
            bail!("{} does not exist", path.display());
        }
        let state = State::open_unchecked(path)?;
        state.network()?;
        Ok(state)
    }

    fn open_unchecked(path: &Path) -> Result<State> {
        let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        configure(&conn).with_context(|| format!("configuring {}", path.display()))?;
        migrate(&mut conn).with_context(|| format!("migrating {}", path.display()))?;
        Ok(State { conn })
    }

    /// Starts a write transaction that holds the database lock from the start, so two
    /// signer processes never interleave a read-modify-write of the limits.
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    pub fn network(&self) -> Result<Network> {
        let name =
            meta(&self.conn, "network")?.context("the state database has no network: it is corrupt")?;
        Ok(parse_network(&name)?)
    }

    pub fn wallets(&self) -> Result<Vec<RegisteredWallet>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, receive_descriptor, change_descriptor FROM wallets ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (name, receive, change) = row?;
            let descriptor = WalletDescriptor::parse(&receive, Some(&change))
                .with_context(|| format!("stored wallet {name} no longer parses"))?;
            Ok(RegisteredWallet { name, descriptor })
        })
        .collect()
    }

    pub fn add_wallet(&mut self, name: &str, descriptor: &WalletDescriptor) -> Result<()> {
        let tx = self.begin()?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT name FROM wallets WHERE name = ?1 OR wallet_id = ?2",
                params![name, descriptor.wallet_id()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = exists {
            bail!("a wallet named {existing} with this name or these descriptors is already registered");
        }
        tx.execute(
            "INSERT INTO wallets (name, wallet_id, receive_descriptor, change_descriptor, registered_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, descriptor.wallet_id(), descriptor.receive().to_string(), descriptor.change().to_string(), clock::unix_now()],
        )?;
        journal(
            &tx,
            "wallet-registered",
            serde_json::json!({
                "name": name,
                "wallet_id": descriptor.wallet_id(),
                "receive": descriptor.receive().to_string(),
                "change": descriptor.change().to_string(),
            }),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn limits(&self, asset: Asset) -> Result<Option<AssetLimits>> {
        limits_in(&self.conn, asset)
    }

    pub fn journal_entries(&self) -> Result<Vec<JournalEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, recorded_at, event, details, prev_hash, hash FROM journal ORDER BY seq")?;
        let rows = stmt.query_map([], entry_from_row)?;
        rows.map(|r| to_entry(r?)).collect()
    }

    pub fn journal_head(&self) -> Result<Option<JournalHead>> {
        match meta(&self.conn, "journal_head")? {
            Some(text) => Ok(Some(
                serde_json::from_str(&text).context("the stored journal head is corrupt")?,
            )),
            None => Ok(None),
        }
    }

    /// Verifies the journal's hash chain against the stored head.
    pub fn verify_journal(&self) -> Result<usize> {
        let entries = self.journal_entries()?;
        verify_chain(&entries, self.journal_head()?)?;
        Ok(entries.len())
    }

    /// Total outflow ever reserved for `asset`.
    pub fn reserved_total(&self, asset: Asset) -> Result<Amount> {
        let sats: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(outflow_sat), 0) FROM reservations WHERE asset = ?1",
            [asset.ticker()],
            |r| r.get(0),
        )?;
        Ok(Amount::from_sat(u64::try_from(sats)?))
    }

    /// Whether an unsigned transaction was reserved before.
    pub fn has_reservation(&self, txid: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM reservations WHERE txid = ?1", [txid], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn signature_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM reservations", [], |r| r.get(0))?;
        Ok(u64::try_from(n)?)
    }
}

pub fn limits_in(conn: &Connection, asset: Asset) -> Result<Option<AssetLimits>> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT state, max_fee_sat FROM limiters WHERE asset = ?1",
            [asset.ticker()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(state, max_fee)| {
        Ok(AssetLimits {
            limiter: serde_json::from_str(&state).context("the stored limiter state is corrupt")?,
            max_fee: Amount::from_sat(u64::try_from(max_fee)?),
        })
    })
    .transpose()
}

pub fn store_limiter(tx: &Transaction<'_>, asset: Asset, limiter: &FlowLimiter) -> Result<()> {
    let changed = tx.execute(
        "UPDATE limiters SET state = ?1 WHERE asset = ?2",
        params![serde_json::to_string(limiter)?, asset.ticker()],
    )?;
    if changed != 1 {
        bail!("no limits for {asset}: run `sluice-signer limits init` first");
    }
    Ok(())
}

pub fn insert_limiter(
    tx: &Transaction<'_>,
    asset: Asset,
    limiter: &FlowLimiter,
    max_fee: Amount,
) -> Result<()> {
    tx.execute(
        "INSERT INTO limiters (asset, state, max_fee_sat) VALUES (?1, ?2, ?3)",
        params![
            asset.ticker(),
            serde_json::to_string(limiter)?,
            i64::try_from(max_fee.to_sat())?
        ],
    )?;
    Ok(())
}

pub fn any_reservation(tx: &Transaction<'_>) -> Result<bool> {
    Ok(tx
        .query_row("SELECT 1 FROM reservations LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn insert_reservation(
    tx: &Transaction<'_>,
    txid: &str,
    wallet: &str,
    asset: Asset,
    outflow: Amount,
) -> Result<()> {
    tx.execute(
        "INSERT INTO reservations (txid, wallet, asset, outflow_sat, reserved_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![txid, wallet, asset.ticker(), i64::try_from(outflow.to_sat())?, clock::unix_now()],
    )?;
    Ok(())
}

pub fn reservation_exists(tx: &Transaction<'_>, txid: &str) -> Result<bool> {
    Ok(tx
        .query_row("SELECT 1 FROM reservations WHERE txid = ?1", [txid], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn command_applied(tx: &Transaction<'_>, command_id: &str) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM applied_commands WHERE command_id = ?1",
            [command_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn record_command(tx: &Transaction<'_>, command_id: &str, description: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO applied_commands (command_id, applied_at, description) VALUES (?1, ?2, ?3)",
        params![command_id, clock::unix_now(), description],
    )?;
    Ok(())
}
