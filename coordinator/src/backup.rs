//! `backup` and `restore`: the coordinator's home in one encrypted, authenticated file.
//!
//! What a backup holds: the database (a consistent snapshot taken with SQLite's online
//! backup API in one step, so it is safe while every service runs), the audit key (without
//! it the restored audit log could not be continued or verified), the identity key
//! (signers trust replies signed by it) and, if present, the onion service key (already
//! sealed under its own passphrase; the onion address survives a restore). Not included:
//! arti's state directory `<db>.tor/` (a cache rebuilt on start) and webhook secrets (they
//! live in `run`'s configuration, not in the home).
//!
//! The plaintext is a small container (`SLUICE-BACKUP-1`, then per file: name length
//! (u16 BE), name, data length (u64 BE), data), sealed with the keystore's
//! XChaCha20-Poly1305 under an Argon2id key from the passphrase (`sluice_shared::keystore`,
//! purpose `sluice-coordinator-backup`), written atomically, 0600, never over a file.
//!
//! `restore` checks everything before writing anything: the passphrase and the MAC, the
//! container, SQLite's `integrity_check`, the schema version (not newer than this
//! binary), the triggers and the whole audit chain under the archived audit key, all on a
//! private temporary copy; only then are the files written into the new home, refusing
//! to replace any file there. The restored database holds its processor (`restore_hold`):
//! it does not know transactions made after the backup, so nothing is batched until an
//! admin has reconciled the approved withdrawals with the chain (`restore-release`).

use std::path::{Path, PathBuf};

use bitcoin::Network;
use rand::RngCore;
use rusqlite::Connection;
use secrecy::SecretString;
use sluice_fsutil::{write_file, Access, Existing, WriteError};
use sluice_shared::keystore::{seal, KdfParams, KeystoreError, SealedSecret};
use zeroize::Zeroizing;

use crate::audit::AuditKey;
use crate::db::schema;
use crate::identity::CoordinatorIdentity;
use crate::service::{Coordinator, ServiceError};

/// The keystore purpose a backup is sealed for.
pub const PURPOSE: &str = "sluice-coordinator-backup";

const MAGIC: &[u8] = b"SLUICE-BACKUP-1\n";
const DATABASE: &str = "database";
const AUDIT_KEY: &str = "audit-key";
const IDENTITY_KEY: &str = "identity-key";
const ONION_KEY: &str = "onion-key";

/// The database file name `restore` writes into the new home.
pub const RESTORED_DB_NAME: &str = "sluice-coordinator.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is missing: a coordinator home has it beside the database; nothing was written")]
    MissingFile { path: String },
    #[error("taking the database snapshot: {0}")]
    Snapshot(#[source] rusqlite::Error),
    #[error("the backup cannot be opened: {0}; nothing was written")]
    Seal(#[source] KeystoreError),
    #[error("the backup is not a coordinator backup or is damaged ({0}); nothing was written")]
    Container(String),
    #[error("the archived database fails SQLite's integrity check ({0}); nothing was written")]
    Integrity(String),
    #[error("the archived database has schema version {found}, newer than this binary's {supported}: restore with a newer sluice-coordinator; nothing was written")]
    NewerSchema { found: i64, supported: usize },
    #[error("the archived audit log does not verify ({0}); nothing was written")]
    Audit(String),
    #[error("the archived database cannot be opened: {0}; nothing was written")]
    Open(#[source] ServiceError),
    #[error("{path} already exists: restore only into an empty home, never over one; nothing was written")]
    Exists { path: String },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("temporary directory: {0}")]
    Temp(#[source] std::io::Error),
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub network: Network,
    pub schema_version: i64,
    pub audit_entries: u64,
    pub files: Vec<String>,
    pub bytes: usize,
}

/// What a restore checked and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    pub network: Network,
    pub db: PathBuf,
    pub audit_entries: usize,
    pub files: Vec<String>,
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, BackupError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            BackupError::MissingFile {
                path: path.display().to_string(),
            }
        } else {
            BackupError::Read {
                path: path.display().to_string(),
                source,
            }
        }
    })
}

fn encode(files: &[(&str, &[u8])]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(MAGIC.to_vec());
    for (name, data) in files {
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&u64::try_from(data.len()).unwrap_or(u64::MAX).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

type Files = Vec<(String, Zeroizing<Vec<u8>>)>;

fn decode(bytes: &[u8]) -> Result<Files, BackupError> {
    let corrupt = |what: &str| BackupError::Container(what.to_owned());
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("no backup header"))?;
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], BackupError> {
        let end = at
            .checked_add(n)
            .filter(|end| *end <= body.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let slice = body.get(at..end).ok_or_else(|| corrupt("truncated"))?;
        at = end;
        Ok(slice)
    };
    let mut files = Vec::new();
    while files.len() < 16 {
        let len = match take(2) {
            Ok(len) => len,
            // The end: exactly at a file boundary.
            Err(_) if at == body.len() => break,
            Err(e) => return Err(e),
        };
        let name_len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let name = std::str::from_utf8(take(name_len)?)
            .map_err(|_| corrupt("a file name is not UTF-8"))?
            .to_owned();
        let mut size = [0u8; 8];
        size.copy_from_slice(take(8)?);
        let size = usize::try_from(u64::from_be_bytes(size)).map_err(|_| corrupt("a file is too large"))?;
        let data = Zeroizing::new(take(size)?.to_vec());
        if files.iter().any(|(n, _)| *n == name) {
            return Err(corrupt("a file appears twice"));
        }
        files.push((name, data));
    }
    Ok(files)
}

/// Backs up the coordinator whose database is `db` into `out` (which must not exist).
pub fn create(
    db: &Path,
    network: Option<Network>,
    out: &Path,
    passphrase: &SecretString,
    kdf: KdfParams,
) -> Result<BackupSummary, BackupError> {
    let coord = Coordinator::open(db, network).map_err(BackupError::Open)?;
    if out.symlink_metadata().is_ok() {
        return Err(BackupError::Exists {
            path: out.display().to_string(),
        });
    }
    let temp = tempfile::tempdir().map_err(BackupError::Temp)?;
    let snapshot_path = temp.path().join("snapshot.sqlite");
    {
        let mut snapshot = Connection::open(&snapshot_path).map_err(BackupError::Snapshot)?;
        let backup = rusqlite::backup::Backup::new(coord.connection(), &mut snapshot)
            .map_err(BackupError::Snapshot)?;
        // All pages in one step: one read transaction, so one consistent state even while
        // other processes write (WAL readers see a fixed snapshot).
        let mut waits = 0;
        loop {
            use rusqlite::backup::StepResult;
            match backup.step(-1).map_err(BackupError::Snapshot)? {
                StepResult::Done => break,
                // Another connection holds a lock for a moment: try again, boundedly.
                StepResult::More | StepResult::Busy | StepResult::Locked if waits < 400 => {
                    waits += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                _ => {
                    return Err(BackupError::Snapshot(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed locked for 10 s".to_owned()),
                    )))
                }
            }
        }
    }
    let (schema_version, audit_entries) = {
        let snapshot = Connection::open(&snapshot_path).map_err(BackupError::Snapshot)?;
        let version: i64 = snapshot
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(BackupError::Snapshot)?;
        let entries: i64 = snapshot
            .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
            .map_err(BackupError::Snapshot)?;
        (version, u64::try_from(entries).unwrap_or_default())
    };
    let database = read(&snapshot_path)?;
    let audit_key = read(&AuditKey::path_for(db))?;
    let identity_key = read(&CoordinatorIdentity::path_for(db))?;
    let onion_path = db.with_extension("onion-key");
    let onion_key = match read(&onion_path) {
        Ok(bytes) => Some(bytes),
        Err(BackupError::MissingFile { .. }) => None,
        Err(e) => return Err(e),
    };
    let mut files: Vec<(&str, &[u8])> = vec![
        (DATABASE, &database),
        (AUDIT_KEY, &audit_key),
        (IDENTITY_KEY, &identity_key),
    ];
    if let Some(onion) = &onion_key {
        files.push((ONION_KEY, onion));
    }
    let plaintext = encode(&files);
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = seal(PURPOSE, &plaintext, passphrase, kdf, salt, nonce).map_err(BackupError::Seal)?;
    let text = sealed.to_json();
    write_file(out, text.as_bytes(), Access::OwnerOnly, Existing::Refuse)?;
    Ok(BackupSummary {
        network: coord.network(),
        schema_version,
        audit_entries,
        files: files.iter().map(|(name, _)| (*name).to_owned()).collect(),
        bytes: text.len(),
    })
}

fn file<'a>(files: &'a Files, name: &str) -> Result<&'a [u8], BackupError> {
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, data)| data.as_slice())
        .ok_or_else(|| BackupError::Container(format!("the backup has no {name}")))
}

/// Checks the backup `input` completely, then writes it into `home` (created 0700 if
/// missing) as `sluice-coordinator.sqlite` with its keys beside it.
pub fn restore(input: &Path, home: &Path, passphrase: &SecretString) -> Result<RestoreSummary, BackupError> {
    let text = read(input)?;
    let text = std::str::from_utf8(&text).map_err(|_| BackupError::Container("not a backup file".into()))?;
    let sealed = SealedSecret::from_json(text).map_err(BackupError::Seal)?;
    let plaintext = sealed.open(PURPOSE, passphrase).map_err(BackupError::Seal)?;
    let files = decode(&plaintext)?;
    if let Some((unknown, _)) = files
        .iter()
        .find(|(n, _)| ![DATABASE, AUDIT_KEY, IDENTITY_KEY, ONION_KEY].contains(&n.as_str()))
    {
        return Err(BackupError::Container(format!(
            "unknown file {unknown:?} in the backup"
        )));
    }

    // Every check on a private copy first.
    let temp = tempfile::tempdir().map_err(BackupError::Temp)?;
    let trial = temp.path().join(RESTORED_DB_NAME);
    let place = |db: &Path, files: &Files| -> Result<Vec<String>, BackupError> {
        let mut written = Vec::new();
        for (name, path) in [
            (DATABASE, db.to_owned()),
            (AUDIT_KEY, AuditKey::path_for(db)),
            (IDENTITY_KEY, CoordinatorIdentity::path_for(db)),
            (ONION_KEY, db.with_extension("onion-key")),
        ] {
            if name == ONION_KEY && file(files, name).is_err() {
                continue;
            }
            write_file(&path, file(files, name)?, Access::OwnerOnly, Existing::Refuse)?;
            written.push(path.display().to_string());
        }
        Ok(written)
    };
    place(&trial, &files)?;
    {
        let conn = Connection::open(&trial).map_err(|e| BackupError::Integrity(e.to_string()))?;
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| BackupError::Integrity(e.to_string()))?;
        if check != "ok" {
            return Err(BackupError::Integrity(check));
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| BackupError::Integrity(e.to_string()))?;
        if usize::try_from(version).map_or(true, |v| v > schema::MIGRATIONS.len()) {
            return Err(BackupError::NewerSchema {
                found: version,
                supported: schema::MIGRATIONS.len(),
            });
        }
    }
    // Opening checks the triggers and the audit key; then the whole chain.
    let mut coord = Coordinator::open(&trial, None).map_err(BackupError::Open)?;
    let network = coord.network();
    let verified = coord
        .audit_verify(None)
        .map_err(BackupError::Open)?
        .map_err(|e| BackupError::Audit(e.to_string()))?;
    drop(coord);
    CoordinatorIdentity::load(&CoordinatorIdentity::path_for(&trial))
        .map_err(|e| BackupError::Container(format!("the identity key: {e}")))?;

    // Nothing in the way, then write.
    let db = home.join(RESTORED_DB_NAME);
    for path in [
        db.clone(),
        AuditKey::path_for(&db),
        CoordinatorIdentity::path_for(&db),
        db.with_extension("onion-key"),
        PathBuf::from(format!("{}-wal", db.display())),
    ] {
        if path.symlink_metadata().is_ok() {
            return Err(BackupError::Exists {
                path: path.display().to_string(),
            });
        }
    }
    sluice_fsutil::create_private_parent(&db)?;
    let written = place(&db, &files)?;
    // Fail closed: the processor waits until an admin has reconciled (`restore-release`).
    {
        let conn = Connection::open(&db).map_err(|e| BackupError::Integrity(e.to_string()))?;
        crate::db::restore_hold::hold(&conn, crate::clock::now())
            .map_err(|e| BackupError::Integrity(e.to_string()))?;
    }
    Ok(RestoreSummary {
        network,
        db,
        audit_entries: verified.entries,
        files: written,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    #[test]
    fn the_container_round_trips_and_refuses_damage() {
        let bytes = encode(&[("database", b"db bytes"), ("audit-key", b"key")]);
        let files = decode(&bytes).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(file(&files, "database").unwrap(), b"db bytes");
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(decode(b"something else").is_err());
        let twice = encode(&[("database", b"a"), ("database", b"b")]);
        assert!(decode(&twice).is_err());
    }
}
