//! The hash-chained journal: a valid chain verifies, and any single edit, deletion,
//! insertion or reordering is detected against the recorded head.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use proptest::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sluice_shared::journal::{canonical_json, verify_chain, JournalEntry, JournalError};

fn chain_of(details: Vec<Value>) -> Vec<JournalEntry> {
    let mut entries: Vec<JournalEntry> = Vec::new();
    for (i, details) in details.into_iter().enumerate() {
        let event = if i % 2 == 0 { "signed" } else { "refused" };
        let entry = JournalEntry::append(entries.last(), 1_763_000_000 + i as i64, event, details);
        entries.push(entry);
    }
    entries
}

fn chain(n: u64) -> Vec<JournalEntry> {
    chain_of(
        (0..n)
            .map(|i| json!({"txid": format!("{i:064x}"), "outflow_sat": 10_000 * i, "wallet": "hot"}))
            .collect(),
    )
}

/// The documented hash construction, computed here with `sha2` directly.
fn documented_hash(seq: u64, at: i64, event: &str, details: &str, prev: &[u8; 32]) -> [u8; 32] {
    let tag = Sha256::digest(b"sluice/journal/v1");
    let mut h = Sha256::new();
    h.update(tag);
    h.update(tag);
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    h.update((event.len() as u64).to_be_bytes());
    h.update(event.as_bytes());
    h.update((details.len() as u64).to_be_bytes());
    h.update(details.as_bytes());
    h.update(prev);
    h.finalize().into()
}

/// The entry with its hash recomputed over whatever it now says, as a forger would.
fn rehashed(entry: &JournalEntry) -> JournalEntry {
    let mut forged = entry.clone();
    forged.hash = documented_hash(
        entry.seq,
        entry.recorded_at,
        &entry.event,
        &canonical_json(&entry.details),
        &entry.prev_hash,
    );
    forged
}

#[test]
fn a_valid_chain_verifies_with_and_without_its_head() {
    let c = chain(7);
    assert_eq!(c[0].seq, 1);
    assert_eq!(c[0].prev_hash, [0; 32]);
    for pair in c.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(verify_chain(&c, Some(c[6].head())), Ok(()));
    assert_eq!(verify_chain(&c, None), Ok(()));
    assert_eq!(verify_chain(&[], None), Ok(()));
}

#[test]
fn an_edited_entry_is_reported_as_edited() {
    let c = chain(5);
    let head = Some(c[4].head());
    let mut e = c.clone();
    e[2].details["outflow_sat"] = json!(1);
    assert_eq!(verify_chain(&e, head), Err(JournalError::Edited { seq: 3 }));
    let mut e = c.clone();
    e[0].event = "refused".to_owned();
    assert_eq!(verify_chain(&e, head), Err(JournalError::Edited { seq: 1 }));
    let mut e = c.clone();
    e[4].recorded_at -= 3600;
    assert_eq!(verify_chain(&e, head), Err(JournalError::Edited { seq: 5 }));
    let mut e = c;
    e[1].hash[31] ^= 1;
    // Its own hash no longer matches; the next entry still names the old one.
    assert!(verify_chain(&e, head).is_err());
}

#[test]
fn a_deleted_entry_is_reported_as_missing() {
    let c = chain(5);
    let head = Some(c[4].head());
    let mut e = c.clone();
    e.remove(2);
    assert_eq!(
        verify_chain(&e, head),
        Err(JournalError::Missing {
            expected: 3,
            found: 4
        })
    );
    let mut e = c;
    e.remove(0);
    assert_eq!(
        verify_chain(&e, head),
        Err(JournalError::Missing {
            expected: 1,
            found: 2
        })
    );
}

#[test]
fn a_rewritten_and_rehashed_entry_breaks_the_link_after_it() {
    let c = chain(5);
    let head = Some(c[4].head());
    let mut e = c.clone();
    e[1].details = json!({"outflow_sat": 0});
    e[1] = rehashed(&e[1]);
    assert_eq!(verify_chain(&e, head), Err(JournalError::BrokenLink { seq: 3 }));
    // An entry relinked to skip its predecessor, its own hash made to match.
    let mut e = c.clone();
    e[3].prev_hash = c[1].hash;
    e[3] = rehashed(&e[3]);
    assert_eq!(verify_chain(&e, head), Err(JournalError::BrokenLink { seq: 4 }));
}

#[test]
fn deleting_the_tail_or_rewriting_the_last_entry_is_a_head_mismatch() {
    let c = chain(5);
    let head = Some(c[4].head());
    assert_eq!(
        verify_chain(&c[..3], head),
        Err(JournalError::HeadMismatch {
            expected: 5,
            found: 3
        })
    );
    assert_eq!(
        verify_chain(&[], head),
        Err(JournalError::HeadMismatch {
            expected: 5,
            found: 0
        })
    );
    // The last entry rewritten with a fresh hash: the chain is consistent, the head is not.
    let mut e = c.clone();
    e[4].details = json!({"outflow_sat": 0});
    e[4] = rehashed(&e[4]);
    let err = verify_chain(&e, head).unwrap_err();
    assert_eq!(
        err,
        JournalError::HeadMismatch {
            expected: 5,
            found: 5
        }
    );
    assert!(err.to_string().contains("rewritten"), "{err}");
    // Without a head, truncating the end cannot be seen: that is what the head is for.
    assert_eq!(verify_chain(&c[..3], None), Ok(()));
}

#[test]
fn an_absurd_seq_does_not_panic() {
    let mut c = chain(2);
    c[0].seq = u64::MAX;
    assert!(verify_chain(&c, None).is_err());
    let first = JournalEntry::append(None, 0, "signed", json!({}));
    let mut last = first.clone();
    last.seq = u64::MAX;
    let next = JournalEntry::append(Some(&last), 0, "signed", json!({}));
    assert!(verify_chain(&[last, next], None).is_err());
}

/// The hash is the documented construction, recomputed here with `sha2` directly, so the
/// coordinator, the signer and any outside auditor agree on it.
#[test]
fn the_hash_is_the_documented_tagged_sha256() {
    let details = json!({"wallet": "hot", "amounts": [1, 2.5, -3], "note": "é\"\n"});
    let first = JournalEntry::append(None, -5, "limits-initialized", details.clone());
    let second = JournalEntry::append(Some(&first), 1_763_000_000, "signed", json!(null));

    let canonical = r#"{"amounts":[1,2.5,-3],"note":"é\"\n","wallet":"hot"}"#;
    assert_eq!(canonical_json(&details), canonical);
    assert_eq!(
        first.hash,
        documented_hash(1, -5, "limits-initialized", canonical, &[0; 32])
    );
    assert_eq!(
        second.hash,
        documented_hash(2, 1_763_000_000, "signed", "null", &first.hash)
    );
}

#[test]
fn canonical_json_sorts_keys_at_every_level_and_has_no_whitespace() {
    let a: Value =
        serde_json::from_str(r#"{ "z": {"b": 1, "a": [ {"y": true, "x": null} ]}, "a": "s" }"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"a":"s","z":{"a":[{"x":null,"y":true}],"b":1}}"#).unwrap();
    assert_eq!(
        canonical_json(&a),
        r#"{"a":"s","z":{"a":[{"x":null,"y":true}],"b":1}}"#
    );
    assert_eq!(canonical_json(&a), canonical_json(&b));
    // Keys sort by their UTF-8 bytes.
    assert_eq!(
        canonical_json(&json!({"b": 1, "B": 2, "é": 3, "a": 4})),
        r#"{"B":2,"a":4,"b":1,"é":3}"#
    );
}

/// Found by the round-trip property: serde_json's default float parser can land one ULP
/// off, which made an honest journal fail as "edited". shared enables `float_roundtrip`.
#[test]
fn floats_in_details_survive_storage_as_text() {
    let entry = JournalEntry::append(None, 0, "signed", json!([{"a": -963307630447.9175}]));
    let text = serde_json::to_string(&entry).unwrap();
    let back: JournalEntry = serde_json::from_str(&text).unwrap();
    assert_eq!(verify_chain(&[back], Some(entry.head())), Ok(()));
}

#[test]
fn entries_survive_storage_as_json() {
    let c = chain(4);
    let text = serde_json::to_string(&c).unwrap();
    assert!(text.contains(&hex::encode(c[3].hash)), "hashes are stored as hex");
    let back: Vec<JournalEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, c);
    assert_eq!(verify_chain(&back, Some(c[3].head())), Ok(()));
    let head_text = serde_json::to_string(&c[3].head()).unwrap();
    assert_eq!(
        serde_json::from_str::<sluice_shared::journal::JournalHead>(&head_text).unwrap(),
        c[3].head()
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-zé\"\\\\ \n]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_é]{1,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Seq(usize, u64),
    RecordedAt(usize, i64),
    Event(usize),
    Details(usize),
    PrevHash(usize, usize),
    Hash(usize, usize),
    /// Edit the details and recompute that entry's hash, as a forger would.
    Rehash(usize),
    Delete(usize),
    Swap(usize, usize),
    Duplicate(usize),
    /// Keep only the first `n` entries.
    Truncate(usize),
}

fn mutation(len: usize) -> impl Strategy<Value = Mutation> {
    let i = 0..len;
    prop_oneof![
        (i.clone(), 1u64..u64::MAX).prop_map(|(i, d)| Mutation::Seq(i, d)),
        (i.clone(), 1i64..i64::MAX).prop_map(|(i, d)| Mutation::RecordedAt(i, d)),
        i.clone().prop_map(Mutation::Event),
        i.clone().prop_map(Mutation::Details),
        (i.clone(), 0usize..256).prop_map(|(i, b)| Mutation::PrevHash(i, b)),
        (i.clone(), 0usize..256).prop_map(|(i, b)| Mutation::Hash(i, b)),
        i.clone().prop_map(Mutation::Rehash),
        i.clone().prop_map(Mutation::Delete),
        // Another entry (a single entry swapped with itself is no change, so it is moved
        // past the end instead: a deletion).
        (i.clone(), 1..len.max(2)).prop_map(move |(a, step)| if len < 2 {
            Mutation::Delete(a)
        } else {
            Mutation::Swap(a, (a + step) % len)
        }),
        i.clone().prop_map(Mutation::Duplicate),
        (0..len).prop_map(Mutation::Truncate),
    ]
}

fn apply(entries: &mut Vec<JournalEntry>, m: &Mutation) {
    match *m {
        Mutation::Seq(i, d) => entries[i].seq = entries[i].seq.wrapping_add(d),
        Mutation::RecordedAt(i, d) => entries[i].recorded_at = entries[i].recorded_at.wrapping_add(d),
        Mutation::Event(i) => entries[i].event.push('!'),
        Mutation::Details(i) => entries[i].details = json!({ "was": entries[i].details.take() }),
        Mutation::PrevHash(i, bit) => entries[i].prev_hash[bit / 8] ^= 1 << (bit % 8),
        Mutation::Hash(i, bit) => entries[i].hash[bit / 8] ^= 1 << (bit % 8),
        Mutation::Rehash(i) => {
            entries[i].details = json!({ "was": entries[i].details.take() });
            entries[i] = rehashed(&entries[i]);
        }
        Mutation::Delete(i) => {
            entries.remove(i);
        }
        Mutation::Swap(a, b) => entries.swap(a, b),
        Mutation::Duplicate(i) => {
            let copy = entries[i].clone();
            entries.insert(i, copy);
        }
        Mutation::Truncate(n) => entries.truncate(n),
    }
}

fn chain_and_mutation() -> impl Strategy<Value = (Vec<Value>, Mutation)> {
    prop::collection::vec(json_value(), 1..12).prop_flat_map(|details| {
        let len = details.len();
        (Just(details), mutation(len))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_single_edit_deletion_insertion_or_reordering_is_detected(
        (details, m) in chain_and_mutation(),
    ) {
        let original = chain_of(details);
        let head = original.last().map(JournalEntry::head);
        prop_assert_eq!(verify_chain(&original, head), Ok(()));
        let mut tampered = original.clone();
        apply(&mut tampered, &m);
        prop_assert_ne!(&tampered, &original);
        prop_assert!(verify_chain(&tampered, head).is_err(), "{:?} went unnoticed", m);
    }

    /// Whatever the details, an entry stored as JSON text and read back still verifies:
    /// the canonical encoding survives the round trip (floats, escapes, key order).
    #[test]
    fn any_chain_verifies_after_a_round_trip_through_json_text(
        details in prop::collection::vec(json_value(), 0..8),
    ) {
        let original = chain_of(details);
        let head = original.last().map(JournalEntry::head);
        let stored: Vec<(String, JournalEntry)> = original
            .iter()
            .map(|e| (serde_json::to_string(&e.details).unwrap(), e.clone()))
            .collect();
        let back: Vec<JournalEntry> = stored
            .into_iter()
            .map(|(text, mut e)| {
                e.details = serde_json::from_str(&text).unwrap();
                e
            })
            .collect();
        prop_assert_eq!(verify_chain(&back, head), Ok(()));
    }
}
