//! The signer's state in SQLite: settings, wallets, per-asset limits, reservations,
//! applied limit-command ids and the journal.
//!
//! Every change commits in one transaction together with its journal entry, in WAL mode
//! with `synchronous=FULL`, so a committed reservation survives a crash or power loss.
//! Write transactions take the database lock at their start (`BEGIN IMMEDIATE`), so two
//! signer processes never interleave a read-modify-write of the limits.

mod change_index;
mod journal;
mod records;

use std::path::Path;

use bitcoin::bip32::Fingerprint;
use bitcoin::{Amount, Network};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::journal::{JournalEntry, JournalError};
use sluice_shared::limiter::FlowLimiter;
use sluice_shared::network::{network_name, parse_network};

pub use self::change_index::{change_bound, record_signed_change, set_change_gap};
pub use self::journal::append as journal;
pub use self::records::{
    any_reservation, command_applied, insert_limiter, insert_reservation, limits_in, record_command,
    reservation_exists, store_limiter,
};
use crate::clock;
use crate::home::{create_private_file, HomeError};

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

/// What went wrong with the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the signer's state database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{path} already exists: refusing to overwrite a signer's state")]
    AlreadyExists { path: String },
    #[error("{path} does not exist: run `sluice-signer init` or restore the state from a backup")]
    Missing { path: String },
    #[error("the state database is from a newer sluice-signer (schema {0}); upgrade the signer")]
    NewerSchema(usize),
    #[error("the signer's state is corrupt: {0}; restore it from a backup")]
    Corrupt(String),
    #[error("no limits for {0}: run `sluice-signer limits init` first")]
    NoLimits(Asset),
    #[error("a wallet named {0} with this name or these descriptors is already registered")]
    WalletExists(String),
    #[error("JOURNAL VERIFICATION FAILED: {0}")]
    Journal(#[from] JournalError),
    #[error("JOURNAL VERIFICATION FAILED: the journal is empty, but a signer's journal starts at init: entries were deleted")]
    JournalEmptied,
    #[error("JOURNAL VERIFICATION FAILED: the journal's recorded head is missing: it was deleted")]
    JournalHeadMissing,
    #[error(transparent)]
    Home(#[from] HomeError),
}

fn corrupt(what: impl Into<String>) -> StateError {
    StateError::Corrupt(what.into())
}

fn sats(amount: Amount) -> Result<i64, StateError> {
    i64::try_from(amount.to_sat()).map_err(|_| corrupt("an amount above 21 million BTC"))
}

fn amount(sats: i64) -> Result<Amount, StateError> {
    u64::try_from(sats)
        .map(Amount::from_sat)
        .map_err(|_| corrupt("a negative amount"))
}

fn configure(conn: &Connection) -> Result<(), StateError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StateError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(StateError::NewerSchema(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StateError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A registered wallet.
#[derive(Debug, Clone)]
pub struct RegisteredWallet {
    pub name: String,
    pub descriptor: WalletDescriptor,
}

/// An asset's limiter with the signer's fee cap for that asset.
#[derive(Debug, Clone)]
pub struct AssetLimits {
    pub limiter: FlowLimiter,
    pub max_fee: Amount,
}

/// An open state database.
#[derive(Debug)]
pub struct State {
    conn: Connection,
}

impl State {
    /// Creates the state database of a new signer (owner-only permissions).
    pub fn create(path: &Path, network: Network, own_fingerprint: Fingerprint) -> Result<State, StateError> {
        create_private_file(path).map_err(|e| match e {
            HomeError::AlreadyExists { path } => StateError::AlreadyExists { path },
            other => other.into(),
        })?;
        let mut state = State::open_unchecked(path)?;
        let tx = state.begin()?;
        set_meta(&tx, "network", network_name(network))?;
        // Public: lets `inspect` tell this signer's key apart without the passphrase.
        set_meta(&tx, "own_fingerprint", &own_fingerprint.to_string())?;
        journal(
            &tx,
            "initialized",
            serde_json::json!({
                "network": network_name(network),
                "fingerprint": own_fingerprint.to_string(),
            }),
        )?;
        tx.commit()?;
        Ok(state)
    }

    /// Opens an existing state database.
    pub fn open(path: &Path) -> Result<State, StateError> {
        if !path.exists() {
            return Err(StateError::Missing {
                path: path.display().to_string(),
            });
        }
        let state = State::open_unchecked(path)?;
        state.network()?;
        Ok(state)
    }

    fn open_unchecked(path: &Path) -> Result<State, StateError> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(State { conn })
    }

    /// Starts a write transaction that holds the database lock from its start.
    pub fn begin(&mut self) -> Result<Transaction<'_>, StateError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    pub fn network(&self) -> Result<Network, StateError> {
        let name = meta(&self.conn, "network")?.ok_or_else(|| corrupt("no network recorded"))?;
        parse_network(&name).map_err(|e| corrupt(e.to_string()))
    }

    /// The master fingerprint recorded at `init` (public information).
    pub fn own_fingerprint(&self) -> Result<Fingerprint, StateError> {
        let text = meta(&self.conn, "own_fingerprint")?.ok_or_else(|| corrupt("no fingerprint recorded"))?;
        text.parse()
            .map_err(|_| corrupt(format!("recorded fingerprint {text:?}")))
    }

    pub fn wallets(&self) -> Result<Vec<RegisteredWallet>, StateError> {
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
                .map_err(|e| corrupt(format!("stored wallet {name} no longer parses: {e}")))?;
            Ok(RegisteredWallet { name, descriptor })
        })
        .collect()
    }

    /// Registers a wallet, journaled. Names and descriptors are unique.
    pub fn add_wallet(&mut self, name: &str, descriptor: &WalletDescriptor) -> Result<(), StateError> {
        let tx = self.begin()?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT name FROM wallets WHERE name = ?1 OR wallet_id = ?2",
                params![name, descriptor.wallet_id()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(StateError::WalletExists(existing));
        }
        tx.execute(
            "INSERT INTO wallets (name, wallet_id, receive_descriptor, change_descriptor, registered_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                name,
                descriptor.wallet_id(),
                descriptor.receive().to_string(),
                descriptor.change().to_string(),
                clock::unix_now()
            ],
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

    pub fn limits(&self, asset: Asset) -> Result<Option<AssetLimits>, StateError> {
        limits_in(&self.conn, asset)
    }

    pub fn journal_entries(&self) -> Result<Vec<JournalEntry>, StateError> {
        journal::entries(&self.conn)
    }

    /// Verifies the journal's hash chain against the stored head; the number of entries.
    pub fn verify_journal(&self) -> Result<usize, StateError> {
        journal::verify(&self.conn)
    }

    /// Total outflow ever reserved for `asset`.
    pub fn reserved_total(&self, asset: Asset) -> Result<Amount, StateError> {
        let total: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(outflow_sat), 0) FROM reservations WHERE asset = ?1",
            [asset.ticker()],
            |r| r.get(0),
        )?;
        amount(total)
    }

    /// Whether an unsigned transaction (by txid) was reserved before.
    pub fn has_reservation(&self, txid: &str) -> Result<bool, StateError> {
        reservation_exists(&self.conn, txid)
    }

    /// How many transactions were ever reserved.
    pub fn reservation_count(&self) -> Result<u64, StateError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM reservations", [], |r| r.get(0))?;
        u64::try_from(n).map_err(|_| corrupt("a negative count"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_state_is_private_migrated_and_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let fingerprint: Fingerprint = "1bbaa5fe".parse().unwrap();
        let state = State::create(&path, Network::Regtest, fingerprint).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(state.network().unwrap(), Network::Regtest);
        assert_eq!(state.own_fingerprint().unwrap(), fingerprint);
        assert_eq!(state.verify_journal().unwrap(), 1);
        let version: usize = state
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let mode: String = state
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(state);
        assert!(matches!(
            State::create(&path, Network::Regtest, fingerprint),
            Err(StateError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn an_emptied_journal_or_a_removed_head_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let state = State::create(&path, Network::Regtest, Fingerprint::default()).unwrap();
        state
            .conn
            .execute("DELETE FROM meta WHERE key = 'journal_head'", [])
            .unwrap();
        assert!(matches!(
            state.verify_journal(),
            Err(StateError::JournalHeadMissing)
        ));
        state.conn.execute("DELETE FROM journal", []).unwrap();
        assert!(matches!(state.verify_journal(), Err(StateError::JournalEmptied)));
    }
}
