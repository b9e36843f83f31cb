//! The signer's state, authenticated with a key only the sealed seed gives (issue 8
//! item 3).
//!
//! Every change made with the keys unlocked ends with a *seal*, inside the same SQLite
//! transaction: the state version goes up by one, the journal's current head is pinned,
//! and an HMAC-SHA256 under the state key ([`StateKey`], derived from the master key) is
//! taken over every row of `meta` (except the moving journal head and the MAC itself),
//! `wallets`, `limiters`, `reservations` and `applied_commands`. After the commit the
//! version and MAC go to the *anchor* file beside the state (`state.anchor`), itself
//! authenticated with the same key. An exclusive lock on `state.lock` is held from the
//! start of the transaction until the anchor is written, so two signer processes never
//! write anchors out of order.
//!
//! Unlocking checks all of it: the MAC over the rows (an edited limit, a deleted
//! applied-command row, a removed reservation), the journal chain up to its head and the
//! pinned head within it (a rewritten journal), and the state's version against the
//! anchor's (an older state file put back: a rollback). Journal entries appended without
//! the keys (a refusal that `inspect` records) extend the chain after the pinned head;
//! the chain covers them, and the next keyed change pins them.
//!
//! Write order: the state commits first, then the anchor. A crash between the two leaves
//! the state exactly one version ahead of its anchor, which only the signer itself can
//! cause (a thief cannot make a state newer than the anchor without the key): unlocking
//! accepts that one step and rewrites the anchor. A state older than its anchor, or more
//! than one step ahead, is refused.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{journal, meta, set_meta, StateError};
use crate::home::HomeError;

/// Tables whose every row the MAC covers, each ordered by its primary key (column 1).
const COVERED_TABLES: &[&str] = &["wallets", "limiters", "reservations", "applied_commands"];
/// Tables added after the MAC's format was fixed, covered (name and rows) only once they
/// hold a row, so a state sealed before they existed still verifies. Emptying one is
/// caught all the same: the sealed bytes held its rows.
const COVERED_WHEN_USED: &[&str] = &["reservation_spends"];
/// `meta` keys the MAC leaves out: the head that unkeyed journal appends move, and the
/// MAC itself.
const UNCOVERED_META: &[&str] = &["journal_head", STATE_MAC];
const STATE_MAC: &str = "state_mac";
const STATE_VERSION: &str = "state_version";
const SEALED_HEAD: &str = "sealed_journal_head";

/// The key that authenticates the state: HMAC-SHA256 under a secret derived from the
/// master key. Never printed.
pub struct StateKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(<secret>)")
    }
}

impl StateKey {
    /// `HMAC-SHA256(key = "sluice/state-key/v1", seed_material)`; the caller passes the
    /// master private key and chain code.
    pub fn derive(seed_material: &[u8]) -> StateKey {
        let mut engine = hmac::HmacEngine::<sha256::Hash>::new(b"sluice/state-key/v1");
        engine.input(seed_material);
        let mac = hmac::Hmac::<sha256::Hash>::from_engine(engine);
        StateKey(Zeroizing::new(mac.to_byte_array()))
    }

    fn mac(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        let mut engine = self.engine(domain);
        engine.input(data);
        hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
    }

    /// The HMAC of `domain` and whatever is fed to the engine after it (what [`mac`]
    /// computes over `data` in one piece).
    fn engine(&self, domain: &str) -> hmac::HmacEngine<sha256::Hash> {
        let mut engine = hmac::HmacEngine::<sha256::Hash>::new(self.0.as_ref());
        field(&mut engine, domain.as_bytes());
        engine
    }
}

fn field(engine: &mut impl HashEngine, bytes: &[u8]) {
    engine.input(&(bytes.len() as u64).to_be_bytes());
    engine.input(bytes);
}

/// Every covered row as one unambiguous byte string, handed to `sink` piece by piece as
/// it is read (never held whole: it grows with every reservation ever made, 220 MB at a
/// million): per table its name, then per row its column count and each value tagged by
/// type and length-prefixed.
fn covered_rows(conn: &Connection, sink: &mut impl FnMut(&[u8])) -> Result<(), StateError> {
    let mut push = |bytes: &[u8]| {
        sink(&(bytes.len() as u64).to_be_bytes());
        sink(bytes);
    };
    let placeholders = UNCOVERED_META.iter().map(|_| "?").collect::<Vec<_>>().join(", ");
    let queries = std::iter::once((
        "meta".to_owned(),
        format!("SELECT * FROM meta WHERE key NOT IN ({placeholders}) ORDER BY 1"),
    ))
    .chain(
        COVERED_TABLES
            .iter()
            .map(|t| ((*t).to_owned(), format!("SELECT * FROM {t} ORDER BY 1"))),
    );
    let mut used = Vec::new();
    for table in COVERED_WHEN_USED {
        let any: Option<i64> = conn
            .query_row(&format!("SELECT 1 FROM {table} LIMIT 1"), [], |r| r.get(0))
            .optional()?;
        if any.is_some() {
            used.push(((*table).to_owned(), format!("SELECT * FROM {table} ORDER BY 1")));
        }
    }
    let queries = queries.chain(used);
    for (table, sql) in queries {
        push(table.as_bytes());
        let mut stmt = conn.prepare(&sql)?;
        let columns = stmt.column_count();
        let params: Vec<&str> = if table == "meta" {
            UNCOVERED_META.to_vec()
        } else {
            Vec::new()
        };
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            push(&(columns as u64).to_be_bytes());
            for i in 0..columns {
                match row.get_ref(i)? {
                    ValueRef::Null => push(b"n"),
                    ValueRef::Integer(v) => {
                        push(b"i");
                        push(&v.to_be_bytes());
                    }
                    ValueRef::Real(v) => {
                        push(b"r");
                        push(&v.to_bits().to_be_bytes());
                    }
                    ValueRef::Text(v) => {
                        push(b"t");
                        push(v);
                    }
                    ValueRef::Blob(v) => {
                        push(b"b");
                        push(v);
                    }
                }
            }
        }
    }
    Ok(())
}

const STATE_MAC_DOMAIN: &str = "sluice/state-mac/v1";

/// The MAC over [`covered_rows`], streamed into the HMAC as the rows are read.
fn state_mac(key: &StateKey, conn: &Connection) -> Result<[u8; 32], StateError> {
    let mut engine = key.engine(STATE_MAC_DOMAIN);
    covered_rows(conn, &mut |bytes| engine.input(bytes))?;
    Ok(hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array())
}

pub(super) fn version(conn: &Connection) -> Result<u64, StateError> {
    match meta(conn, STATE_VERSION)? {
        None => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| StateError::Corrupt(format!("the state version {text:?}"))),
    }
}

/// What the anchor file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AnchorFile {
    format: u32,
    version: u64,
    #[serde(with = "hex::serde")]
    state_mac: [u8; 32],
    #[serde(with = "hex::serde")]
    mac: [u8; 32],
}

/// A sealed version of the state, to be written to the anchor after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    version: u64,
    state_mac: [u8; 32],
}

impl Anchor {
    fn data(&self) -> Vec<u8> {
        let mut data = self.version.to_be_bytes().to_vec();
        data.extend_from_slice(&self.state_mac);
        data
    }

    fn write(&self, key: &StateKey, path: &Path) -> Result<(), StateError> {
        let file = AnchorFile {
            format: 1,
            version: self.version,
            state_mac: self.state_mac,
            mac: key.mac("sluice/state-anchor/v1", &self.data()),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| StateError::Corrupt(e.to_string()))?;
        sluice_fsutil::write_file(
            path,
            text.as_bytes(),
            sluice_fsutil::Access::OwnerOnly,
            sluice_fsutil::Existing::Replace,
        )
        .map_err(HomeError::from)?;
        Ok(())
    }

    fn read(key: &StateKey, path: &Path) -> Result<Anchor, StateError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::AnchorMissing { path: shown })
            }
            Err(e) => {
                return Err(StateError::AnchorUnreadable {
                    path: shown,
                    reason: e.to_string(),
                })
            }
        };
        let file: AnchorFile = serde_json::from_str(&text).map_err(|e| StateError::AnchorUnreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let anchor = Anchor {
            version: file.version,
            state_mac: file.state_mac,
        };
        if file.format != 1 || file.mac != key.mac("sluice/state-anchor/v1", &anchor.data()) {
            return Err(StateError::AnchorForged { path: shown });
        }
        Ok(anchor)
    }
}

/// Where the anchor and the lock of the state at `state` live.
pub fn anchor_path(state: &Path) -> PathBuf {
    state.with_extension("anchor")
}

fn lock_path(state: &Path) -> PathBuf {
    state.with_extension("lock")
}

/// An exclusive lock on the state's lock file, held from a keyed change's start until its
/// anchor is written; released when dropped.
#[derive(Debug)]
pub struct WriteLock(#[allow(dead_code)] File);

pub fn lock(state: &Path) -> Result<WriteLock, StateError> {
    let path = lock_path(state);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StateError::Lock(format!("{}: {e}", path.display())))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| StateError::Lock(format!("{}: {e}", path.display())))?;
    Ok(WriteLock(file))
}

/// Seals the changes of `tx` (before its commit): next version, pinned journal head, MAC.
pub fn seal(tx: &Transaction<'_>, key: &StateKey) -> Result<Anchor, StateError> {
    let next = version(tx)?
        .checked_add(1)
        .ok_or_else(|| StateError::Corrupt("the state version overflows".to_owned()))?;
    let head = meta(tx, "journal_head")?.ok_or(StateError::JournalHeadMissing)?;
    set_meta(tx, SEALED_HEAD, &head)?;
    set_meta(tx, STATE_VERSION, &next.to_string())?;
    let mac = state_mac(key, tx)?;
    set_meta(tx, STATE_MAC, &hex::encode(mac))?;
    Ok(Anchor {
        version: next,
        state_mac: mac,
    })
}

/// Writes the anchor of a committed seal.
pub fn write_anchor(anchor: &Anchor, key: &StateKey, state: &Path) -> Result<(), StateError> {
    anchor.write(key, &anchor_path(state))
}

/// Checks the state at `path` (open as `conn`) against `key` and its anchor; see the
/// module documentation. Repairs an anchor one version behind (a crash after a commit).
/// The journal is checked after `checked`, the last entry this process verified (all of
/// it when `None`, see [`journal::verify_after`]); returns its last entry now.
pub fn verify(
    conn: &Connection,
    key: &StateKey,
    path: &Path,
    checked: Option<sluice_shared::journal::JournalHead>,
) -> Result<sluice_shared::journal::JournalHead, StateError> {
    let stored = meta(conn, STATE_MAC)?.ok_or(StateError::Unsealed)?;
    let computed = state_mac(key, conn)?;
    if stored != hex::encode(computed) {
        return Err(StateError::Tampered(
            "its records do not match their MAC: a limit, reservation, applied command, wallet or setting was edited, added or deleted outside the signer".to_owned(),
        ));
    }
    let last = journal::verify_after(conn, checked)?;
    let sealed: sluice_shared::journal::JournalHead = meta(conn, SEALED_HEAD)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| StateError::Tampered("the sealed journal head is missing".to_owned()))?;
    if !journal::holds(conn, &sealed)? {
        return Err(StateError::Tampered(format!(
            "journal entry {} is not the entry that was sealed: the journal was rewritten",
            sealed.seq
        )));
    }
    let state_version = version(conn)?;
    let anchor_file = anchor_path(path);
    let anchor = Anchor::read(key, &anchor_file)?;
    let current = Anchor {
        version: state_version,
        state_mac: computed,
    };
    if anchor == current {
        return Ok(last);
    }
    if anchor.version.checked_add(1) == Some(state_version) {
        // The signer crashed between committing a change and writing its anchor.
        current.write(key, &anchor_file)?;
        return Ok(last);
    }
    if state_version <= anchor.version {
        return Err(StateError::RolledBack {
            state: state_version,
            anchor: anchor.version,
        });
    }
    Err(StateError::AnchorBehind {
        state: state_version,
        anchor: anchor.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_never_printed_and_macs_depend_on_key_and_domain() {
        let a = StateKey::derive(b"seed a");
        let b = StateKey::derive(b"seed b");
        assert_eq!(format!("{a:?}"), "StateKey(<secret>)");
        assert_ne!(a.mac("x", b"data"), b.mac("x", b"data"));
        assert_ne!(a.mac("x", b"data"), a.mac("y", b"data"));
        assert_eq!(a.mac("x", b"data"), StateKey::derive(b"seed a").mac("x", b"data"));
    }

    /// A database holding every covered table, with fixed rows of every value type.
    fn fixed_rows() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
             CREATE TABLE wallets (id TEXT PRIMARY KEY, descriptor TEXT, added INTEGER);
             CREATE TABLE limiters (asset TEXT PRIMARY KEY, rate REAL, spent INTEGER, note BLOB);
             CREATE TABLE reservations (txid TEXT PRIMARY KEY, wallet TEXT, outflow_sat INTEGER);
             CREATE TABLE applied_commands (command_id TEXT PRIMARY KEY, applied_at INTEGER);
             CREATE TABLE reservation_spends (outpoint TEXT PRIMARY KEY, txid TEXT);
             INSERT INTO meta VALUES ('network', 'regtest'), ('journal_head', 'moves'),
                 ('state_mac', 'itself'), ('state_version', '7');
             INSERT INTO wallets VALUES ('w1', 'wpkh(...)', 1700000000), ('w2', NULL, -1);
             INSERT INTO limiters VALUES ('BTC', 0.5, 123456789, x'00ff10');
             INSERT INTO reservations VALUES ('aa', 'w1', 5000), ('bb', 'w2', 0);
             INSERT INTO applied_commands VALUES ('c1', 1700000001);
             INSERT INTO reservation_spends VALUES ('aa:0', 'aa');",
        )
        .unwrap();
        conn
    }

    /// The MAC is streamed into the HMAC as rows are read; it is the MAC the signer
    /// always computed over the whole string at once (this value was computed by the code
    /// that built the string in memory first), so every sealed state still verifies.
    #[test]
    fn the_streamed_state_mac_is_the_mac_over_the_whole_string() {
        let key = StateKey::derive(b"fixed");
        let conn = fixed_rows();
        let streamed = state_mac(&key, &conn).unwrap();
        assert_eq!(
            hex::encode(streamed),
            "186b8e36165333156d94c83606a91c9e3f9dc73da672dc940ebbc0ec2f843d72"
        );
        let mut whole = Vec::new();
        covered_rows(&conn, &mut |bytes| whole.extend_from_slice(bytes)).unwrap();
        assert_eq!(streamed, key.mac(STATE_MAC_DOMAIN, &whole));
        conn.execute("UPDATE reservations SET outflow_sat = 5001 WHERE txid = 'aa'", [])
            .unwrap();
        assert_ne!(state_mac(&key, &conn).unwrap(), streamed, "an edited row");
        conn.execute(
            "UPDATE meta SET value = 'elsewhere' WHERE key = 'journal_head'",
            [],
        )
        .unwrap();
        conn.execute("UPDATE reservations SET outflow_sat = 5000 WHERE txid = 'aa'", [])
            .unwrap();
        assert_eq!(
            state_mac(&key, &conn).unwrap(),
            streamed,
            "the head is not covered"
        );
    }
}
