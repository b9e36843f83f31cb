//! The journal inside the state database: every decision, hash-chained
//! ([`sluice_shared::journal`]), with the chain's head stored apart so that deleting the
//! last entries is detected too. Entries are only ever appended, in the same transaction
//! as the change they record.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;
use sluice_shared::journal::{verify_chain, verify_chain_after, JournalEntry, JournalHead};

use super::{meta, set_meta, StateError};
use crate::clock;

const HEAD_KEY: &str = "journal_head";

fn corrupt(what: impl Into<String>) -> StateError {
    StateError::Corrupt(what.into())
}

pub(super) fn head(conn: &Connection) -> Result<Option<JournalHead>, StateError> {
    meta(conn, HEAD_KEY)?
        .map(|text| serde_json::from_str(&text).map_err(|e| corrupt(format!("the journal head: {e}"))))
        .transpose()
}

/// Appends an entry inside `tx` and moves the head to it.
pub fn append(tx: &Transaction<'_>, event: &str, details: Value) -> Result<JournalEntry, StateError> {
    let prev = match head(tx)? {
        Some(h) => Some(
            read_entry(tx, h.seq)?
                .ok_or_else(|| corrupt(format!("journal entry {} (the recorded head) is missing", h.seq)))?,
        ),
        None => None,
    };
    let entry = JournalEntry::append(prev.as_ref(), clock::unix_now(), event, details);
    tx.execute(
        "INSERT INTO journal (seq, recorded_at, event, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            i64::try_from(entry.seq).map_err(|_| corrupt("journal sequence overflow"))?,
            entry.recorded_at,
            entry.event,
            entry.details.to_string(),
            hex::encode(entry.prev_hash),
            hex::encode(entry.hash)
        ],
    )?;
    let head_text = serde_json::to_string(&entry.head()).map_err(|e| corrupt(e.to_string()))?;
    set_meta(tx, HEAD_KEY, &head_text)?;
    Ok(entry)
}

type RawEntry = (i64, i64, String, String, String, String);

fn raw(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn hash32(text: &str, seq: i64) -> Result<[u8; 32], StateError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| corrupt(format!("journal entry {seq}: a hash is not 32 bytes of hex")))
}

fn to_entry(raw: RawEntry) -> Result<JournalEntry, StateError> {
    let (seq, recorded_at, event, details, prev_hash, hash) = raw;
    Ok(JournalEntry {
        seq: u64::try_from(seq).map_err(|_| corrupt(format!("journal entry {seq}: negative seq")))?,
        recorded_at,
        event,
        details: serde_json::from_str(&details)
            .map_err(|e| corrupt(format!("journal entry {seq}: details {e}")))?,
        prev_hash: hash32(&prev_hash, seq)?,
        hash: hash32(&hash, seq)?,
    })
}

fn read_entry(conn: &Connection, seq: u64) -> Result<Option<JournalEntry>, StateError> {
    let seq = i64::try_from(seq).map_err(|_| corrupt("journal sequence overflow"))?;
    conn.query_row(
        "SELECT seq, recorded_at, event, details, prev_hash, hash FROM journal WHERE seq = ?1",
        [seq],
        raw,
    )
    .optional()?
    .map(to_entry)
    .transpose()
}

/// Every entry, oldest first.
pub(super) fn entries(conn: &Connection) -> Result<Vec<JournalEntry>, StateError> {
    let mut stmt =
        conn.prepare("SELECT seq, recorded_at, event, details, prev_hash, hash FROM journal ORDER BY seq")?;
    let rows = stmt.query_map([], raw)?;
    rows.map(|r| to_entry(r?)).collect()
}

/// Checks the chain and its head; returns the number of entries.
pub(super) fn verify(conn: &Connection) -> Result<usize, StateError> {
    let entries = entries(conn)?;
    let head = head(conn)?;
    // A signer's journal starts at `init`: an empty journal or a missing head means
    // entries or the head were removed, which the chain alone cannot show.
    if entries.is_empty() {
        return Err(StateError::JournalEmptied);
    }
    if head.is_none() {
        return Err(StateError::JournalHeadMissing);
    }
    verify_chain(&entries, head)?;
    Ok(entries.len())
}

/// Checks the chain and its head as [`verify`] does, reading only the entries after
/// `checked` (an entry this process verified before) once `checked` is found still there
/// with its hash; without it, or when it is not found, the whole chain. Returns the last
/// entry, to pass as `checked` next time.
///
/// An entry before `checked` edited in place (its stored hash kept) is not seen here; the
/// full check finds it when the state is next opened, and nothing is decided from old
/// entries. A chain rewritten through `checked` changes its hash, and falls back to the
/// full check.
pub(super) fn verify_after(
    conn: &Connection,
    checked: Option<JournalHead>,
) -> Result<JournalHead, StateError> {
    let head = head(conn)?.ok_or(StateError::JournalHeadMissing)?;
    let checked = match checked {
        Some(checked) if holds(conn, &checked)? => checked,
        _ => {
            verify(conn)?;
            return Ok(head);
        }
    };
    let after = i64::try_from(checked.seq).map_err(|_| corrupt("journal sequence overflow"))?;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, recorded_at, event, details, prev_hash, hash FROM journal WHERE seq > ?1 ORDER BY seq",
    )?;
    let entries = stmt
        .query_map([after], raw)?
        .map(|r| to_entry(r?))
        .collect::<Result<Vec<_>, _>>()?;
    verify_chain_after(Some(checked), &entries, Some(head))?;
    Ok(head)
}

/// Whether the journal holds `head` (its seq with its hash).
pub(super) fn holds(conn: &Connection, head: &JournalHead) -> Result<bool, StateError> {
    Ok(read_entry(conn, head.seq)?.is_some_and(|e| e.hash == head.hash))
}
