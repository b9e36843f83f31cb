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
mod seal;

use std::path::{Path, PathBuf};

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
    any_reservation, command_applied, highest_fee_with_key, insert_limiter, insert_reservation,
    insert_spend_key, last_issued, limits_in, record_command, reservation_of, self_paused, set_self_paused,
    store_limiter, StoredReservation,
};
pub use self::seal::{anchor_path, StateKey};
use crate::clock;
use crate::home::{create_private_file, HomeError};

/// Schema versions, applied in order; `PRAGMA user_version` records the last applied.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    // 2: a reservation keeps what it reserved (issue 8 item 1), so a repeat of its txid
    // with another outflow is refused; an applied command keeps its kind and issue time
    // (item 6), so an older command of the same kind is refused; an asset's limits say
    // after how many inspection refusals within how long an online signer pauses itself
    // (item 7).
    r#"
    ALTER TABLE reservations ADD COLUMN fee_sat INTEGER;
    ALTER TABLE reservations ADD COLUMN outflow_digest TEXT;
    ALTER TABLE applied_commands ADD COLUMN asset TEXT;
    ALTER TABLE applied_commands ADD COLUMN kind TEXT;
    ALTER TABLE applied_commands ADD COLUMN issued_at INTEGER;
    ALTER TABLE limiters ADD COLUMN refusals_before_pause INTEGER NOT NULL DEFAULT 3;
    ALTER TABLE limiters ADD COLUMN refusal_window_s INTEGER NOT NULL DEFAULT 600;
"#,
    // 3: fee bumps (issue 9 item 6): what makes a reservation comparable with a
    // replacement (its inputs and external outputs, as digests), what it took from the
    // limits (`charged_sat`: the full outflow, or only a replacement's fee increase) and
    // which txid it replaces. A table of its own, not columns, so the MAC of a state
    // sealed before it stays valid (see `seal`).
    r#"
    CREATE TABLE reservation_spends (
        txid TEXT PRIMARY KEY REFERENCES reservations(txid),
        inputs_digest TEXT NOT NULL,
        externals_digest TEXT NOT NULL,
        charged_sat INTEGER NOT NULL CHECK (charged_sat >= 0),
        replaces_txid TEXT REFERENCES reservations(txid)
    );
    CREATE INDEX reservation_spends_by_inputs ON reservation_spends(inputs_digest, externals_digest);
"#,
];

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
    #[error("the signer's state has no MAC: it was not created by this version of sluice-signer, or its MAC was removed; refusing to sign. Restore state.sqlite and state.anchor from a backup, or set the signer up again")]
    Unsealed,
    #[error("the signer's state fails its authentication: {0}. Refusing to sign or change limits: restore state.sqlite and state.anchor from a backup and find out who changed them")]
    Tampered(String),
    #[error("the state's anchor {path} is missing: the state cannot be checked against rollback; refusing to sign. Restore it from the backup made with state.sqlite")]
    AnchorMissing { path: String },
    #[error("the state's anchor {path} cannot be read: {reason}")]
    AnchorUnreadable { path: String, reason: String },
    #[error("the state's anchor {path} fails its authentication: it was edited or made by another signer; refusing to sign")]
    AnchorForged { path: String },
    #[error("STATE ROLLED BACK: the state file is at version {state}, but its anchor records version {anchor}: an older (or another) copy of state.sqlite was put back, which would forget reservations and applied commands. Refusing to sign or change limits")]
    RolledBack { state: u64, anchor: u64 },
    #[error("the state's anchor is at version {anchor}, more than one version behind the state ({state}): the anchor file was put back from an older copy. Refusing to sign; restore the current state.anchor")]
    AnchorBehind { state: u64, anchor: u64 },
    #[error("this change of the signer's state needs the keys: run it with the passphrase")]
    NeedsKeys,
    #[error("locking the signer's state: {0}")]
    Lock(String),
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
    /// Parsed once per process ([`WalletDescriptor::parse_kept`]).
    pub descriptor: std::sync::Arc<WalletDescriptor>,
}

/// An asset's limiter with the signer's fee cap for that asset.
#[derive(Debug, Clone)]
pub struct AssetLimits {
    pub limiter: FlowLimiter,
    pub max_fee: Amount,
    /// When an online signer pauses itself (issue 8 item 7).
    pub self_pause: sluice_shared::self_pause::SelfPauseRule,
}

/// An open state database; keyed (after [`State::authenticate`]) when its changes are
/// sealed with the state key.
#[derive(Debug)]
pub struct State {
    conn: Connection,
    path: PathBuf,
    key: Option<StateKey>,
    /// The last journal entry this process verified with the whole chain before it (see
    /// [`State::authenticate`]).
    journal_checked: Option<sluice_shared::journal::JournalHead>,
}

/// One write transaction. With the keys, its commit seals the state and writes the
/// anchor (see [`seal`]); without them, only journal entries may be written
/// ([`Change::require_keys`] guards every other table).
#[derive(Debug)]
pub struct Change<'a> {
    tx: Transaction<'a>,
    key: Option<&'a StateKey>,
    path: &'a Path,
    _lock: Option<seal::WriteLock>,
}

impl<'a> std::ops::Deref for Change<'a> {
    type Target = Transaction<'a>;
    fn deref(&self) -> &Transaction<'a> {
        &self.tx
    }
}

impl Change<'_> {
    /// Fails unless this change will be sealed: limits, reservations, applied commands
    /// and wallets change only with the keys.
    pub fn require_keys(&self) -> Result<(), StateError> {
        self.key.map(|_| ()).ok_or(StateError::NeedsKeys)
    }

    /// Commits; with the keys, seals first and writes the anchor after.
    pub fn commit(self) -> Result<(), StateError> {
        match self.key {
            Some(key) => {
                let anchor = seal::seal(&self.tx, key)?;
                self.tx.commit()?;
                seal::write_anchor(&anchor, key, self.path)
            }
            None => Ok(self.tx.commit()?),
        }
    }
}

impl State {
    /// Creates the state database of a new signer (owner-only permissions), sealed with
    /// `key`.
    pub fn create(
        path: &Path,
        network: Network,
        own_fingerprint: Fingerprint,
        key: StateKey,
    ) -> Result<State, StateError> {
        create_private_file(path).map_err(|e| match e {
            HomeError::AlreadyExists { path } => StateError::AlreadyExists { path },
            other => other.into(),
        })?;
        let mut state = State::open_unchecked(path)?;
        state.key = Some(key);
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

    /// Opens an existing state database, unchecked: for reading and journaling only.
    /// Everything that signs or changes limits opens it with [`State::open_keyed`].
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

    /// Opens the state and checks it against the state key and its anchor.
    pub fn open_keyed(path: &Path, key: StateKey) -> Result<State, StateError> {
        let mut state = State::open(path)?;
        state.authenticate(key)?;
        Ok(state)
    }

    /// Checks the state against `key` and its anchor (MAC over the records, journal,
    /// rollback); from then on every change is sealed. Checked again on every call: the
    /// records' MAC and the anchor in full, the journal in full the first time and then
    /// from the last entry this process verified, so that a long-running signer's check
    /// does not grow with its whole history (see [`journal::verify_after`]).
    pub fn authenticate(&mut self, key: StateKey) -> Result<(), StateError> {
        let _lock = seal::lock(&self.path)?;
        let checked = self.journal_checked.take();
        let last = seal::verify(&self.conn, &key, &self.path, checked)?;
        self.journal_checked = Some(last);
        self.key = Some(key);
        Ok(())
    }

    fn open_unchecked(path: &Path) -> Result<State, StateError> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(State {
            conn,
            path: path.to_owned(),
            key: None,
            journal_checked: None,
        })
    }

    /// Starts a write transaction that holds the database lock from its start (and, when
    /// keyed, the state's lock until the anchor is written).
    pub fn begin(&mut self) -> Result<Change<'_>, StateError> {
        let lock = match self.key {
            Some(_) => Some(seal::lock(&self.path)?),
            None => None,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Change {
            tx,
            key: self.key.as_ref(),
            path: &self.path,
            _lock: lock,
        })
    }

    /// The connection, for reads.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
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
            let descriptor = WalletDescriptor::parse_kept(&receive, &change)
                .map_err(|e| corrupt(format!("stored wallet {name} no longer parses: {e}")))?;
            Ok(RegisteredWallet { name, descriptor })
        })
        .collect()
    }

    /// Registers a wallet, journaled. Names and descriptors are unique.
    pub fn add_wallet(&mut self, name: &str, descriptor: &WalletDescriptor) -> Result<(), StateError> {
        let tx = self.begin()?;
        tx.require_keys()?;
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

    /// Why `asset` is self-paused, if it is (issue 8 item 7).
    pub fn self_paused(&self, asset: Asset) -> Result<Option<String>, StateError> {
        self_paused(&self.conn, asset)
    }

    pub fn journal_entries(&self) -> Result<Vec<JournalEntry>, StateError> {
        journal::entries(&self.conn)
    }

    /// Verifies the journal's hash chain against the stored head; the number of entries.
    pub fn verify_journal(&self) -> Result<usize, StateError> {
        journal::verify(&self.conn)
    }

    /// Total ever taken from the limits for `asset`: each reservation's outflow, or for a
    /// fee bump only its fee increase.
    pub fn reserved_total(&self, asset: Asset) -> Result<Amount, StateError> {
        let total: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(COALESCE(s.charged_sat, r.outflow_sat)), 0) FROM reservations r \
             LEFT JOIN reservation_spends s ON s.txid = r.txid WHERE r.asset = ?1",
            [asset.ticker()],
            |r| r.get(0),
        )?;
        amount(total)
    }

    /// Whether an unsigned transaction (by txid) was reserved before.
    pub fn has_reservation(&self, txid: &str) -> Result<bool, StateError> {
        Ok(reservation_of(&self.conn, txid)?.is_some())
    }

    /// What an unsigned transaction (by txid) reserved before, if it was.
    pub fn reservation(&self, txid: &str) -> Result<Option<StoredReservation>, StateError> {
        reservation_of(&self.conn, txid)
    }

    /// The state's version: one step per sealed commit (0 before the first).
    pub fn version(&self) -> Result<u64, StateError> {
        seal::version(&self.conn)
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
        let state = State::create(&path, Network::Regtest, fingerprint, StateKey::derive(b"test")).unwrap();
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
            State::create(&path, Network::Regtest, fingerprint, StateKey::derive(b"test")),
            Err(StateError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn an_emptied_journal_or_a_removed_head_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let state = State::create(
            &path,
            Network::Regtest,
            Fingerprint::default(),
            StateKey::derive(b"test"),
        )
        .unwrap();
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

    /// Schema 3 adds `reservation_spends`. A state sealed by a schema-2 signer, with
    /// reservations, still verifies after the upgrade (the new table enters the MAC only
    /// once it holds a row); once it does, deleting its rows is caught.
    #[test]
    fn a_state_sealed_before_schema_3_verifies_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let key = || StateKey::derive(b"test");
        let mut state = State::create(&path, Network::Regtest, Fingerprint::default(), key()).unwrap();
        let tx = state.begin().unwrap();
        insert_reservation(
            &tx,
            "aa",
            "hot",
            Asset::Btc,
            Amount::from_sat(500),
            Amount::from_sat(10),
            "d",
        )
        .unwrap();
        tx.commit().unwrap();
        drop(state);
        // What a schema-2 signer left: the same rows, no reservation_spends table.
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("DROP TABLE reservation_spends; PRAGMA user_version = 2;")
                .unwrap();
        }
        let mut state = State::open_keyed(&path, key()).unwrap();
        let version: usize = state
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let spend = crate::reservation::SpendKey {
            inputs_digest: "i".into(),
            externals_digest: "e".into(),
        };
        let tx = state.begin().unwrap();
        insert_reservation(
            &tx,
            "bb",
            "hot",
            Asset::Btc,
            Amount::from_sat(600),
            Amount::from_sat(20),
            "d2",
        )
        .unwrap();
        insert_spend_key(&tx, "bb", &spend, Amount::from_sat(10), Some("aa")).unwrap();
        tx.commit().unwrap();
        drop(state);
        assert!(State::open_keyed(&path, key()).is_ok());
        Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM reservation_spends", [])
            .unwrap();
        assert!(matches!(
            State::open_keyed(&path, key()),
            Err(StateError::Tampered(_))
        ));
    }

    /// Appends `count` keyed journal entries, each in its own sealed commit.
    fn append_entries(state: &mut State, count: usize) {
        for n in 0..count {
            let tx = state.begin().unwrap();
            journal(&tx, "test", serde_json::json!({ "n": n })).unwrap();
            tx.commit().unwrap();
        }
    }

    /// A running signer checks the whole journal once (when it opens the state) and then,
    /// on each `authenticate`, the entries after the last one it checked, once that entry
    /// is found still there with its hash. An entry edited or removed after it, or a chain
    /// rewritten through it, is refused at once; an older entry edited in place (its
    /// stored hash kept) is refused when the state is next opened, and nothing is decided
    /// from old entries meanwhile.
    #[test]
    fn a_running_signer_checks_the_journal_from_the_last_entry_it_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let key = || StateKey::derive(b"test");
        drop(State::create(&path, Network::Regtest, Fingerprint::default(), key()).unwrap());
        let mut state = State::open_keyed(&path, key()).unwrap();
        append_entries(&mut state, 3);
        state.authenticate(key()).unwrap();
        let other = Connection::open(&path).unwrap();
        let edit = |seq: i64| {
            other
                .execute("UPDATE journal SET details = '{\"n\":99}' WHERE seq = ?1", [seq])
                .unwrap()
        };

        // An older entry edited in place: not re-read by this process, refused on opening.
        edit(2);
        state.authenticate(key()).unwrap();
        assert!(matches!(
            State::open_keyed(&path, key()),
            Err(StateError::Journal(JournalError::Edited { seq: 2 }))
        ));
        let original = serde_json::json!({ "n": 0 }).to_string();
        other
            .execute("UPDATE journal SET details = ?1 WHERE seq = 2", [&original])
            .unwrap();
        State::open_keyed(&path, key()).unwrap();

        // An entry after the last one checked, edited: refused at once.
        append_entries(&mut state, 1);
        edit(5);
        assert!(matches!(
            state.authenticate(key()),
            Err(StateError::Journal(JournalError::Edited { seq: 5 }))
        ));
        let original = serde_json::json!({ "n": 0 }).to_string();
        other
            .execute("UPDATE journal SET details = ?1 WHERE seq = 5", [&original])
            .unwrap();
        state.authenticate(key()).unwrap();

        // The chain rewritten through the last entry checked: its hash changed, refused.
        other
            .execute("UPDATE journal SET hash = prev_hash WHERE seq = 5", [])
            .unwrap();
        assert!(state.authenticate(key()).is_err());
    }

    #[test]
    fn a_sealed_state_refuses_edits_and_rollbacks_and_repairs_an_anchor_one_step_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let anchor = anchor_path(&path);
        let key = || StateKey::derive(b"test");
        drop(State::create(&path, Network::Regtest, Fingerprint::default(), key()).unwrap());
        assert!(matches!(
            State::open_keyed(&path, StateKey::derive(b"another seed")),
            Err(StateError::Tampered(_))
        ));
        let mut state = State::open_keyed(&path, key()).unwrap();
        let one_behind = std::fs::read(&anchor).unwrap();
        let tx = state.begin().unwrap();
        journal(&tx, "test", serde_json::json!({})).unwrap();
        tx.commit().unwrap();
        let current = std::fs::read(&anchor).unwrap();
        let tx = state.begin().unwrap();
        journal(&tx, "test", serde_json::json!({})).unwrap();
        tx.commit().unwrap();
        // A crash after the commit, before the anchor: accepted, and the anchor repaired.
        std::fs::write(&anchor, &current).unwrap();
        state.authenticate(key()).unwrap();
        assert_ne!(std::fs::read(&anchor).unwrap(), current);
        // An anchor two versions behind was put back: refused.
        std::fs::write(&anchor, &one_behind).unwrap();
        assert!(matches!(
            state.authenticate(key()),
            Err(StateError::AnchorBehind { .. })
        ));
        // Without the keys, only the journal may change.
        let mut unkeyed = State::open(&path).unwrap();
        let tx = unkeyed.begin().unwrap();
        assert!(matches!(tx.require_keys(), Err(StateError::NeedsKeys)));
        drop(tx);
        unkeyed
            .conn
            .execute("UPDATE meta SET value = 'signet' WHERE key = 'network'", [])
            .unwrap();
        std::fs::write(&anchor, &current).unwrap();
        assert!(matches!(
            State::open_keyed(&path, key()),
            Err(StateError::Tampered(_))
        ));
    }
}
