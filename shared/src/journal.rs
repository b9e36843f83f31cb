//! The append-only, hash-chained journal: every decision a signer makes is an entry whose
//! hash covers the previous entry's, and the last entry (the head) is stored apart, so an
//! edited, deleted or reordered entry is detected.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::tagged_hash;

/// One journal entry. `hash` = tagged SHA-256 over (seq, recorded_at, event, canonical
/// JSON of details, prev_hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1 for the first entry, then +1 each.
    pub seq: u64,
    /// Wall-clock time (Unix seconds) when recorded: informational only.
    pub recorded_at: i64,
    /// What happened, e.g. `signed`, `refused`, `limits-initialized`, `command-applied`.
    pub event: String,
    pub details: Value,
    /// Hash of the previous entry; all zeros for the first.
    #[serde(with = "hex::serde")]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex::serde")]
    pub hash: [u8; 32],
}

/// The last entry's seq and hash, stored apart from the entries (in the same
/// transaction) so that deleting entries from the end is detected too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHead {
    pub seq: u64,
    #[serde(with = "hex::serde")]
    pub hash: [u8; 32],
}

/// How the journal fails verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("journal entry {seq} was edited: its hash does not match its contents")]
    Edited { seq: u64 },
    #[error("journal entry {expected} is missing (found {found} next): entries were deleted")]
    Missing { expected: u64, found: u64 },
    #[error("journal entry {seq} does not link to the entry before it")]
    BrokenLink { seq: u64 },
    #[error("the journal's last entry (entry {found}) is not its recorded head (entry {expected}, with its hash): entries were deleted or rewritten, or the head was altered")]
    HeadMismatch { expected: u64, found: u64 },
}

/// JSON with object keys sorted at every level and no whitespace: one text per value,
/// whatever order the keys were inserted or stored in, with or without serde_json's
/// `preserve_order`. Numbers are written as serde_json writes them (shortest round-trip
/// form for floats); reading details back from stored text must parse floats exactly,
/// which is why this crate enables serde_json's `float_roundtrip`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&map[*key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `tagged_hash("sluice/journal/v1", seq ‖ recorded_at ‖ len(event) ‖ event ‖
/// len(details) ‖ details ‖ prev_hash)`, integers 8-byte big-endian (recorded_at two's
/// complement), details as [`canonical_json`]. Length prefixes keep field boundaries
/// unambiguous.
fn entry_hash(seq: u64, recorded_at: i64, event: &str, details: &Value, prev_hash: &[u8; 32]) -> [u8; 32] {
    let details = canonical_json(details);
    let mut data = Vec::with_capacity(64 + event.len() + details.len());
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(&recorded_at.to_be_bytes());
    data.extend_from_slice(&(event.len() as u64).to_be_bytes());
    data.extend_from_slice(event.as_bytes());
    data.extend_from_slice(&(details.len() as u64).to_be_bytes());
    data.extend_from_slice(details.as_bytes());
    data.extend_from_slice(prev_hash);
    tagged_hash("sluice/journal/v1", &data)
}

impl JournalEntry {
    /// The entry that follows `prev` (or the first entry when `prev` is `None`).
    pub fn append(
        prev: Option<&JournalEntry>,
        recorded_at: i64,
        event: &str,
        details: Value,
    ) -> JournalEntry {
        // Saturating: a stored seq of u64::MAX (only a tampered journal has one) must not
        // panic the signer; verification reports the repeated seq as a gap.
        let (seq, prev_hash) = match prev {
            Some(p) => (p.seq.saturating_add(1), p.hash),
            None => (1, [0u8; 32]),
        };
        let hash = entry_hash(seq, recorded_at, event, &details, &prev_hash);
        JournalEntry {
            seq,
            recorded_at,
            event: event.to_owned(),
            details,
            prev_hash,
            hash,
        }
    }

    pub fn head(&self) -> JournalHead {
        JournalHead {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// Verifies the whole chain, in order, against its recorded head. Checks each entry's seq
/// (`Missing`), its link to the entry before (`BrokenLink`) and its own hash (`Edited`),
/// then that the last entry is `head` (`HeadMismatch`); reports the first failure.
/// Without a head, deleting entries from the end cannot be detected.
pub fn verify_chain(entries: &[JournalEntry], head: Option<JournalHead>) -> Result<(), JournalError> {
    verify_chain_after(None, entries, head)
}

/// [`verify_chain`] for the entries that follow `after`, an entry already verified (the
/// whole chain when `None`): the first must come right after it and link to its hash.
pub fn verify_chain_after(
    after: Option<JournalHead>,
    entries: &[JournalEntry],
    head: Option<JournalHead>,
) -> Result<(), JournalError> {
    let mut prev = after;
    for entry in entries {
        // The entries are outside input: a seq of u64::MAX has no successor, so whatever
        // follows it is out of sequence (reported as the wrapped-around 0).
        let expected_seq = prev.map_or(1, |p| p.seq.checked_add(1).unwrap_or(0));
        if entry.seq != expected_seq {
            return Err(JournalError::Missing {
                expected: expected_seq,
                found: entry.seq,
            });
        }
        let expected_prev = prev.map_or([0u8; 32], |p| p.hash);
        if entry.prev_hash != expected_prev {
            return Err(JournalError::BrokenLink { seq: entry.seq });
        }
        if entry_hash(
            entry.seq,
            entry.recorded_at,
            &entry.event,
            &entry.details,
            &entry.prev_hash,
        ) != entry.hash
        {
            return Err(JournalError::Edited { seq: entry.seq });
        }
        prev = Some(entry.head());
    }
    let last = prev;
    match (head, last) {
        (None, _) => Ok(()),
        (Some(h), Some(l)) if h == l => Ok(()),
        (Some(h), l) => Err(JournalError::HeadMismatch {
            expected: h.seq,
            found: l.map_or(0, |l| l.seq),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<JournalEntry> {
        let mut entries: Vec<JournalEntry> = Vec::new();
        for i in 0..n {
            let e = JournalEntry::append(
                entries.last(),
                1_700_000_000 + i as i64,
                "signed",
                json!({"i": i, "b": [1, {"z": 1, "a": 2}]}),
            );
            entries.push(e);
        }
        entries
    }

    #[test]
    fn a_valid_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify_chain(&c, Some(c[4].head())), Ok(()));
        assert_eq!(verify_chain(&[], None), Ok(()));
    }

    #[test]
    fn every_edit_deletion_or_reorder_is_detected() {
        let c = chain(6);
        let head = Some(c[5].head());
        for i in 0..c.len() {
            let mut edited = c.clone();
            edited[i].details = json!({"i": 999});
            assert_eq!(
                verify_chain(&edited, head),
                Err(JournalError::Edited { seq: i as u64 + 1 })
            );
            let mut edited = c.clone();
            edited[i].recorded_at += 1;
            assert!(verify_chain(&edited, head).is_err());
            let mut deleted = c.clone();
            deleted.remove(i);
            assert!(verify_chain(&deleted, head).is_err(), "deleting entry {i}");
            if i + 1 < c.len() {
                let mut swapped = c.clone();
                swapped.swap(i, i + 1);
                assert!(verify_chain(&swapped, head).is_err());
            }
        }
        assert_eq!(
            verify_chain(&c[..5], head),
            Err(JournalError::HeadMismatch {
                expected: 6,
                found: 5
            })
        );
    }

    #[test]
    fn the_entries_after_a_verified_one_verify_on_their_own() {
        let c = chain(6);
        let head = Some(c[5].head());
        let after = Some(c[2].head());
        assert_eq!(verify_chain_after(after, &c[3..], head), Ok(()));
        // Nothing new: the verified entry is the head.
        assert_eq!(verify_chain_after(head, &[], head), Ok(()));
        let mut edited = c.clone();
        edited[4].details = json!({"i": 999});
        assert_eq!(
            verify_chain_after(after, &edited[3..], head),
            Err(JournalError::Edited { seq: 5 })
        );
        // Not continuing the verified entry: a gap, or another entry before it.
        assert_eq!(
            verify_chain_after(after, &c[4..], head),
            Err(JournalError::Missing {
                expected: 4,
                found: 5
            })
        );
        let other = JournalHead {
            seq: 3,
            hash: [7; 32],
        };
        assert_eq!(
            verify_chain_after(Some(other), &c[3..], head),
            Err(JournalError::BrokenLink { seq: 4 })
        );
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[3,{"q":1,"p":2}]}}"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":[3,{"p":2,"q":1}],"y":2},"b":1}"#);
    }
}
