//! The coordinator's state in SQLite: WAL (readers never block the writer), a busy
//! timeout (several services share the file), foreign keys on, `synchronous=FULL` (a
//! committed approval survives power loss), and versioned migrations.
//!
//! Row-level reads and writes live in the submodules and take a `&Connection`, which a
//! `Transaction` derefs to: the service layer opens one IMMEDIATE transaction per
//! money-deciding change, so reading the facts and recording the decision are atomic and
//! two services cannot interleave between them.

pub mod audit;
pub mod audit_log;
pub mod broadcasts;
pub mod cached;
pub mod chain_blocks;
pub mod coins;
pub mod credentials;
pub mod customers;
pub mod deposits;
pub mod enrollments;
pub mod kyc;
pub mod mempool_deposits;
pub mod proposals;
pub mod restore_hold;
pub mod risk;
pub mod schema;
pub mod session_groups;
pub mod sessions;
pub mod settings;
pub mod signatures;
pub mod signer_refusals;
pub mod signers;
pub mod staff;
pub mod utxos;
pub mod wallets;
pub mod webhooks;
pub mod withdrawals;
mod writer_turns;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Amount, Network};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use sluice_shared::network::{network_name, parse_network};

use crate::audit::{AuditKey, AuditKeyError};
use writer_turns::{Turn, WriterTurns};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {}: {error}", .path.display())]
    Open { path: PathBuf, error: rusqlite::Error },
    #[error("the database is from a newer sluice-coordinator (schema version {found}; this binary knows up to {supported}): upgrade the coordinator")]
    NewerSchema { found: i64, supported: usize },
    #[error("applying schema migration {version}: {error}")]
    Migration { version: usize, error: rusqlite::Error },
    #[error("{} is not an initialised coordinator database: run `sluice-coordinator init --network NET --admin NAME` first", .0.display())]
    NotInitialised(PathBuf),
    #[error("{} is already initialised", .0.display())]
    AlreadyInitialised(PathBuf),
    #[error("the database is for {stored} but --network says {requested}")]
    NetworkMismatch { stored: String, requested: String },
    #[error("stored data is invalid ({0}): the database was edited or is damaged")]
    Corrupt(String),
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("cannot make {} private (owner-only): {error}", .path.display())]
    Private { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Directory(#[from] sluice_fsutil::WriteError),
    #[error(transparent)]
    AuditKey(#[from] AuditKeyError),
    #[error("audit entry {seq}, the newest, has no signature: it was appended to the audit log outside the coordinator, which writes nothing after it (its next signature would cover that entry); see `sluice-coordinator audit verify`, and restore the database from a backup")]
    AuditUnsigned { seq: i64 },
    #[error("the database schema was altered ({0}): the database was edited outside the coordinator; restore it from a backup, and check `sluice-coordinator audit verify --head` against a head kept elsewhere")]
    SchemaAltered(String),
}

impl DbError {
    /// SQLite gave up waiting for another connection's lock (`SQLITE_BUSY`/`SQLITE_LOCKED`)
    /// after the busy timeout: the statement did nothing, and the same call can be retried.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

/// An open, migrated, initialised coordinator database.
#[derive(Debug)]
pub struct Database {
    conn: Connection,
    network: Network,
    audit_key: XOnlyPublicKey,
    /// `PRAGMA schema_version` when the triggers were last checked: a change while we
    /// run (someone else editing the file) is checked again before our next write.
    checked_schema: i64,
    /// This process's writers of the same file, taking turns.
    writers: Arc<WriterTurns>,
}

/// A write transaction in its writer's turn (`writer_turns`): a `Transaction` to the code
/// that uses it; the next writer of this process goes once it is committed or dropped
/// (rolled back).
#[derive(Debug)]
pub struct WriteTransaction<'conn> {
    // Declared before the turn: dropped (rolled back) first.
    tx: Transaction<'conn>,
    turn: Turn,
    /// The newest audit entry when the transaction began (`audit_log::newest_before_write`).
    audit_before: i64,
}

impl WriteTransaction<'_> {
    /// Signs the transaction's audit entries (one signature, on the newest:
    /// `audit_log::sign_newest`) and commits.
    pub fn commit(self) -> Result<(), rusqlite::Error> {
        let WriteTransaction {
            tx,
            turn,
            audit_before,
        } = self;
        let committed = audit_log::sign_newest(&tx, audit_before).and_then(|()| tx.commit());
        drop(turn);
        committed
    }
}

impl<'conn> std::ops::Deref for WriteTransaction<'conn> {
    type Target = Transaction<'conn>;

    fn deref(&self) -> &Transaction<'conn> {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTransaction<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// What a writer gets when its turn did not come within the busy timeout: SQLite's own
/// "busy", so callers treat it as they treat another process holding the lock.
fn busy() -> DbError {
    DbError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some(format!(
            "another writer of this process held the database for more than {} s",
            BUSY_TIMEOUT.as_secs()
        )),
    ))
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(cached::STATEMENT_CACHE_CAPACITY);
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(version).unwrap_or(usize::MAX);
    if applied > schema::MIGRATIONS.len() {
        return Err(DbError::NewerSchema {
            found: version,
            supported: schema::MIGRATIONS.len(),
        });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(applied) {
        let version = i + 1;
        let run = |conn: &mut Connection| -> Result<(), rusqlite::Error> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
            // Another process may have migrated while we waited for the lock.
            let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if usize::try_from(now).unwrap_or(usize::MAX) >= version {
                return Ok(());
            }
            tx.execute_batch(sql)?;
            // Foreign keys are off while a migration runs (a table rebuild drops and
            // renames tables others reference): check them all before committing.
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some(format!("migration leaves a broken foreign key in table {table}")),
                ));
            }
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        // SQLite's procedure for schema changes: foreign key enforcement off outside the
        // transaction (the pragma is a no-op inside one), on again afterwards, whatever
        // happened.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let outcome = run(conn);
        conn.pragma_update(None, "foreign_keys", "ON")?;
        outcome.map_err(|error| DbError::Migration { version, error })?;
    }
    Ok(())
}

fn stored_network(conn: &Connection) -> Result<Option<Network>, DbError> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'network'", [], |r| r.get(0))
        .optional()?;
    text.map(|t| parse_network(&t).map_err(|e| DbError::Corrupt(e.to_string())))
        .transpose()
}

/// The database holds staff token hashes, enrollment and proposal records and the whole
/// withdrawal history: only its owner reads it. A missing directory is created 0700; the
/// file (and the `-wal`/`-shm` files SQLite creates beside it, which take the file's mode)
/// is created 0600, and an existing one readable by others is narrowed to 0600.
fn make_private(path: &Path) -> Result<(), DbError> {
    use std::fs::{OpenOptions, Permissions};
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};

    let failed = |error: std::io::Error| DbError::Private {
        path: path.to_owned(),
        error,
    };
    sluice_fsutil::create_private_parent(path)?;
    // Only a missing file is created here. Never open (and close) a descriptor of an
    // existing database: closing any descriptor of the file drops every POSIX lock this
    // process's other SQLite connections hold on it.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(e)),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        match std::fs::metadata(file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(file, Permissions::from_mode(0o600)).map_err(failed)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
}

/// Loads (or, for a log without entries, creates) the audit key beside `path`, lets the
/// audit triggers use it on `conn`, and refuses a database with triggers of its own.
fn enable_audit_log(conn: &Connection, key: AuditKey) -> Result<XOnlyPublicKey, DbError> {
    let public = key.public_key();
    audit_log::register(conn, Arc::new(key))?;
    audit_log::check_triggers(conn)?;
    Ok(public)
}

fn schema_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "schema_version", |r| r.get(0))
}

fn open_connection(path: &Path) -> Result<(Connection, XOnlyPublicKey), DbError> {
    make_private(path)?;
    let mut conn = Connection::open(path).map_err(|error| DbError::Open {
        path: path.to_owned(),
        error,
    })?;
    configure(&conn).map_err(|error| DbError::Open {
        path: path.to_owned(),
        error,
    })?;
    migrate(&mut conn)?;
    let key = AuditKey::load_or_create(
        &AuditKey::path_for(path),
        audit_log::is_empty(&conn)?,
        &mut rand::rngs::OsRng,
    )?;
    let audit_key = enable_audit_log(&conn, key)?;
    Ok((conn, audit_key))
}

impl Database {
    /// Creates (or completes) the schema at `path`, records `network`, and runs `setup`
    /// (creating the first admin) in the same transaction: either the database is
    /// initialised with its admin, or nothing is recorded.
    pub fn initialise<T>(
        path: &Path,
        network: Network,
        setup: impl FnOnce(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<(Database, T), DbError> {
        let (mut conn, audit_key) = open_connection(path)?;
        let value = Self::initialise_connection(&mut conn, path, network, setup)?;
        Ok((
            Database {
                checked_schema: schema_version(&conn)?,
                conn,
                network,
                audit_key,
                writers: WriterTurns::for_file(path),
            },
            value,
        ))
    }

    fn initialise_connection<T>(
        conn: &mut Connection,
        path: &Path,
        network: Network,
        setup: impl FnOnce(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if stored_network(&tx)?.is_some() {
            return Err(DbError::AlreadyInitialised(path.to_owned()));
        }
        let audit_before = audit_log::newest_before_write(&tx)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('network', ?1)",
            [network_name(network)],
        )?;
        let value = setup(&tx)?;
        audit_log::sign_newest(&tx, audit_before)?;
        tx.commit()?;
        Ok(value)
    }

    /// Opens an initialised database. With `expected`, refuses one for another network.
    pub fn open(path: &Path, expected: Option<Network>) -> Result<Database, DbError> {
        if !path.exists() {
            return Err(DbError::NotInitialised(path.to_owned()));
        }
        let (conn, audit_key) = open_connection(path)?;
        let network = stored_network(&conn)?.ok_or_else(|| DbError::NotInitialised(path.to_owned()))?;
        if let Some(requested) = expected {
            if requested != network {
                return Err(DbError::NetworkMismatch {
                    stored: network_name(network).to_owned(),
                    requested: network_name(requested).to_owned(),
                });
            }
        }
        Ok(Database {
            checked_schema: schema_version(&conn)?,
            conn,
            network,
            audit_key,
            writers: WriterTurns::for_file(path),
        })
    }

    /// A private in-memory database, for unit and property tests.
    #[cfg(test)]
    pub fn in_memory<T>(
        network: Network,
        setup: impl FnOnce(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<(Database, T), DbError> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let audit_key = enable_audit_log(&conn, AuditKey::generate(&mut rand::thread_rng()))?;
        let value = Self::initialise_connection(&mut conn, Path::new(":memory:"), network, setup)?;
        Ok((
            Database {
                checked_schema: schema_version(&conn)?,
                conn,
                network,
                audit_key,
                writers: Arc::default(),
            },
            value,
        ))
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// The public half of the key that signs this database's audit entries.
    pub fn audit_key(&self) -> XOnlyPublicKey {
        self.audit_key
    }

    /// A transaction that takes the write lock at once: for every change, so that the
    /// facts a decision reads cannot change before it is recorded.
    ///
    /// If the schema changed since it was last checked (another process edited the file
    /// while this one runs), the triggers are checked again first, inside the transaction
    /// where nobody else can change them: a trigger planted since would otherwise run in
    /// this write with the audit key at hand.
    ///
    /// Writers of this process wait for their turn first (`writer_turns`), at most the busy
    /// timeout.
    pub fn write(&mut self) -> Result<WriteTransaction<'_>, DbError> {
        let turn = self.writers.wait(BUSY_TIMEOUT).ok_or_else(busy)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = schema_version(&tx)?;
        if now != self.checked_schema {
            audit_log::check_triggers(&tx)?;
            self.checked_schema = now;
        }
        let audit_before = audit_log::newest_before_write(&tx)?;
        Ok(WriteTransaction {
            tx,
            turn,
            audit_before,
        })
    }

    /// A read transaction: one consistent snapshot across several queries.
    pub fn read(&mut self) -> Result<Transaction<'_>, DbError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?)
    }

    /// The raw connection, for tests that check the database's own guards.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Keeps this connection's statement journals (and any temporary table) in memory,
    /// for a connection whose transactions are many small savepoints: the group-commit
    /// writers, one savepoint per request. Each statement that fires triggers copies the
    /// pages it is first to change into its journal, which otherwise spills to a
    /// temporary file past 64 KiB, one write(2) per page. Not for the processor: a
    /// session of 1,000 withdrawals journals megabytes, which in memory left the heap
    /// fragmented and the coordinator's RSS growing along a run.
    pub fn journal_statements_in_memory(&self) -> Result<(), DbError> {
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(())
    }
}

/// Satoshis as stored (SQLite integers are signed).
pub(crate) fn sat_to_sql(amount: Amount) -> Result<i64, DbError> {
    i64::try_from(amount.to_sat()).map_err(|_| DbError::Corrupt(format!("amount {amount} does not fit")))
}

pub(crate) fn sat_from_sql(value: i64) -> Result<Amount, DbError> {
    u64::try_from(value)
        .map(Amount::from_sat)
        .map_err(|_| DbError::Corrupt(format!("negative amount {value}")))
}

/// Runs `work` in a savepoint of the write transaction `tx`, for the writes that record
/// several requests in one commit (group commit): its changes are kept when `keep` says
/// so and rolled back otherwise, so one request's failure never leaves half of it in the
/// commit. Returns `work`'s outcome; an `Err` here (a failed rollback or release) means
/// the caller must not commit.
pub fn in_savepoint<T, E>(
    tx: &mut Transaction<'_>,
    work: impl FnOnce(&Connection) -> Result<T, E>,
    keep: impl FnOnce(&Result<T, E>) -> bool,
) -> Result<Result<T, E>, rusqlite::Error> {
    let mut savepoint = tx.savepoint()?;
    let outcome = work(&savepoint);
    if !keep(&outcome) {
        // Explicitly, so that a failed rollback fails the caller rather than committing
        // half a request.
        savepoint.rollback()?;
    }
    savepoint.commit()?;
    Ok(outcome)
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
