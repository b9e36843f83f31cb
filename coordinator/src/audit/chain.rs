//! Entry hashing and chain verification (pure: values in, values out).

use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::secp256k1::{schnorr, Message, XOnlyPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The previous hash of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Domain separation: an entry hash is never the hash of anything else Sluice signs.
const ENTRY_TAG: &[u8] = b"sluice audit entry v1\0";

/// One stored entry, as read back from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub kind: String,
    /// Canonical JSON of the recorded row, as the database wrote it.
    pub body: String,
    /// The recorded row's own time (Unix seconds); `None` for changes without one.
    pub recorded_at: Option<i64>,
    pub prev_hash: Vec<u8>,
    pub entry_hash: Vec<u8>,
    /// Empty on an entry that was not the newest of its transaction (migration 18): the
    /// newest entry's signature covers it.
    pub signature: Vec<u8>,
}

/// `SHA-256(tag || seq || prev_hash || recorded_at || kind || body)`, every field fixed
/// width or length-prefixed so no two entries share the bytes that are hashed.
pub fn entry_hash(seq: i64, prev_hash: &[u8], recorded_at: Option<i64>, kind: &str, body: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ENTRY_TAG);
    h.update(seq.to_be_bytes());
    h.update((prev_hash.len() as u64).to_be_bytes());
    h.update(prev_hash);
    match recorded_at {
        Some(at) => {
            h.update([1]);
            h.update(at.to_be_bytes());
        }
        None => h.update([0]),
    }
    h.update((kind.len() as u64).to_be_bytes());
    h.update(kind.as_bytes());
    h.update((body.len() as u64).to_be_bytes());
    h.update(body.as_bytes());
    h.finalize().into()
}

/// The BIP340 message an entry's signature covers: its hash.
pub(crate) fn message(hash: &[u8; 32]) -> Message {
    Message::from_digest(sha256::Hash::hash(hash).to_byte_array())
}

/// The newest entry of a chain, to keep somewhere the database's host cannot write: a later
/// `audit verify --head FILE` then notices entries removed from the end. Its signature is
/// the entry's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: i64,
    /// Hex.
    pub entry_hash: String,
    /// Hex BIP340 signature of the entry by `audit_key`.
    pub signature: String,
    /// Hex x-only public key of the coordinator's audit key.
    pub audit_key: String,
}

/// Why an exported head cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("the head file is not an audit head (JSON with seq, entry_hash, signature, audit_key): {0}")]
    Malformed(String),
    #[error("the head was signed by audit key {head_key}, but this coordinator's audit key is {ours}: the head is from another coordinator, or the audit key was replaced")]
    OtherKey { head_key: String, ours: String },
    #[error("the head's signature is not valid: the head file was edited")]
    BadSignature,
}

impl Head {
    pub fn parse(text: &str) -> Result<Head, HeadError> {
        serde_json::from_str(text).map_err(|e| HeadError::Malformed(e.to_string()))
    }

    /// Checks the head's signature under the audit key it names, and returns that key: for
    /// a holder of heads (the shadow) that compares keys itself.
    pub fn verify_signature(&self) -> Result<XOnlyPublicKey, HeadError> {
        let key = hex::decode(&self.audit_key)
            .ok()
            .and_then(|b| XOnlyPublicKey::from_slice(&b).ok())
            .ok_or_else(|| HeadError::Malformed("audit_key is not a 32-byte hex x-only public key".into()))?;
        self.check(&key)?;
        Ok(key)
    }

    /// The head of one stored entry (its own hash and signature), under `key`.
    pub fn of_entry(entry: &Entry, key: &XOnlyPublicKey) -> Head {
        Head {
            seq: entry.seq,
            entry_hash: hex::encode(&entry.entry_hash),
            signature: hex::encode(&entry.signature),
            audit_key: hex::encode(key.serialize()),
        }
    }

    /// Checks the head's own signature under `key`.
    fn check(&self, key: &XOnlyPublicKey) -> Result<([u8; 32], usize), HeadError> {
        let ours = hex::encode(key.serialize());
        if self.audit_key != ours {
            return Err(HeadError::OtherKey {
                head_key: self.audit_key.clone(),
                ours,
            });
        }
        let hash: [u8; 32] = hex::decode(&self.entry_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| HeadError::Malformed("entry_hash is not 32 hex bytes".into()))?;
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|b| schnorr::Signature::from_slice(&b).ok())
            .ok_or_else(|| HeadError::Malformed("signature is not a 64-byte hex signature".into()))?;
        sluice_shared::secp::verification()
            .verify_schnorr(&signature, &message(&hash), key)
            .map_err(|_| HeadError::BadSignature)?;
        let seq = usize::try_from(self.seq).map_err(|_| HeadError::Malformed("seq is negative".into()))?;
        Ok((hash, seq))
    }
}

/// What a verified chain ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    pub entries: usize,
    /// The newest entry as a head (`None` for an empty log).
    pub head: Option<Head>,
}

/// The first place a chain is broken. `seq` is the first entry that does not check out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainBreak {
    #[error("audit entry {seq}: expected sequence number {expected}: entries before it were deleted, or it was inserted or moved")]
    Sequence { seq: i64, expected: i64 },
    #[error("audit entry {seq}: it does not follow entry {previous} (its previous hash differs): an entry was deleted, inserted or reordered here")]
    Link { seq: i64, previous: i64 },
    #[error("audit entry {seq}: its content does not match its hash: the entry was edited")]
    Content { seq: i64 },
    #[error(
        "audit entry {seq}: its signature is not valid under the audit key: the entry was forged or edited"
    )]
    Signature { seq: i64 },
    #[error("audit entry {seq} is the newest and has no signature: entries were appended without the audit key (the coordinator signs the newest entry of every transaction it commits)")]
    Unsigned { seq: i64 },
    #[error("the audit log ends at entry {last}, but the exported head is entry {head_seq}: entries {} to {head_seq} were removed (truncated)", .last + 1)]
    Truncated { last: i64, head_seq: i64 },
    #[error("audit entry {seq} is not the entry of the exported head (different hash): the log was rewritten from there on")]
    HeadMismatch { seq: i64 },
    #[error(transparent)]
    Head(#[from] HeadError),
}

impl ChainBreak {
    /// The first entry that fails, if the break is at one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            ChainBreak::Sequence { seq, .. }
            | ChainBreak::Link { seq, .. }
            | ChainBreak::Content { seq }
            | ChainBreak::Signature { seq }
            | ChainBreak::Unsigned { seq }
            | ChainBreak::HeadMismatch { seq } => Some(*seq),
            ChainBreak::Truncated { last, .. } => Some(last + 1),
            ChainBreak::Head(_) => None,
        }
    }
}

/// Checks every entry, in sequence order, against the one before it and its own content,
/// and its signature under `key` where it has one; the newest entry must have one (a
/// signature covers its entry and, through the links, every entry before it, so each
/// transaction's entries are signed once, on the newest); with `head`, also that the chain still reaches the exported head and passes
/// through it unchanged.
pub fn verify(
    entries: &[Entry],
    key: &XOnlyPublicKey,
    head: Option<&Head>,
) -> Result<VerifiedChain, ChainBreak> {
    let expected_head = head.map(|h| h.check(key)).transpose()?;
    let secp = sluice_shared::secp::verification();
    let mut prev_hash: Vec<u8> = GENESIS.to_vec();
    let mut prev_seq = 0i64;
    for (i, e) in entries.iter().enumerate() {
        let expected = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        if e.seq != expected {
            return Err(ChainBreak::Sequence { seq: e.seq, expected });
        }
        if e.prev_hash != prev_hash {
            return Err(ChainBreak::Link {
                seq: e.seq,
                previous: prev_seq,
            });
        }
        let hash = entry_hash(e.seq, &e.prev_hash, e.recorded_at, &e.kind, &e.body);
        if e.entry_hash != hash {
            return Err(ChainBreak::Content { seq: e.seq });
        }
        // Entries before the newest of their transaction carry no signature: the next
        // signed entry covers them through the links. A signature that is there must hold.
        let newest = i + 1 == entries.len();
        if !e.signature.is_empty() || newest {
            let signed = schnorr::Signature::from_slice(&e.signature)
                .ok()
                .is_some_and(|sig| secp.verify_schnorr(&sig, &message(&hash), key).is_ok());
            match (signed, e.signature.is_empty()) {
                (true, _) => {}
                (false, true) => return Err(ChainBreak::Unsigned { seq: e.seq }),
                (false, false) => return Err(ChainBreak::Signature { seq: e.seq }),
            }
        }
        prev_hash = e.entry_hash.clone();
        prev_seq = e.seq;
    }
    if let Some((hash, seq)) = expected_head {
        let head_seq = i64::try_from(seq).unwrap_or(i64::MAX);
        match seq.checked_sub(1).and_then(|i| entries.get(i)) {
            Some(e) if e.entry_hash == hash => {}
            Some(_) => return Err(ChainBreak::HeadMismatch { seq: head_seq }),
            None if seq == 0 => {}
            None => {
                return Err(ChainBreak::Truncated {
                    last: prev_seq,
                    head_seq,
                })
            }
        }
    }
    Ok(VerifiedChain {
        entries: entries.len(),
        head: entries.last().map(|e| Head::of_entry(e, key)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;
    use crate::audit::AuditKey;

    fn chain(key: &AuditKey, n: i64) -> Vec<Entry> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let body = format!("{{\"n\":{seq}}}");
                let hash = entry_hash(seq, &prev, Some(1_700_000_000 + seq), "test", &body);
                let e = Entry {
                    seq,
                    kind: "test".into(),
                    body,
                    recorded_at: Some(1_700_000_000 + seq),
                    prev_hash: prev.clone(),
                    entry_hash: hash.to_vec(),
                    signature: key.sign(&hash).to_vec(),
                };
                prev = hash.to_vec();
                e
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies_and_its_head_is_the_last_entry() {
        let key = AuditKey::generate(&mut rand::thread_rng());
        let entries = chain(&key, 5);
        let verified = verify(&entries, &key.public_key(), None).unwrap();
        assert_eq!(verified.entries, 5);
        let head = verified.head.unwrap();
        assert_eq!(head.seq, 5);
        assert!(verify(&entries, &key.public_key(), Some(&head)).is_ok());
        assert!(verify(&[], &key.public_key(), None).unwrap().head.is_none());
    }

    /// The chain as the coordinator writes it since migration 18: entries 1-3 in one
    /// transaction, 4-5 in the next, so only entries 3 and 5 carry a signature.
    fn signed_per_transaction(key: &AuditKey) -> Vec<Entry> {
        let mut entries = chain(key, 5);
        for e in &mut entries {
            if e.seq != 3 && e.seq != 5 {
                e.signature.clear();
            }
        }
        entries
    }

    #[test]
    fn a_chain_signed_once_per_transaction_verifies() {
        let key = AuditKey::generate(&mut rand::thread_rng());
        let entries = signed_per_transaction(&key);
        let verified = verify(&entries, &key.public_key(), None).unwrap();
        assert_eq!(verified.entries, 5);
        assert_eq!(verified.head.unwrap().seq, 5);
        // The older format, every entry signed, still verifies.
        assert!(verify(&chain(&key, 5), &key.public_key(), None).is_ok());
    }

    #[test]
    fn an_unsigned_newest_entry_or_a_bad_signature_anywhere_is_refused() {
        let key = AuditKey::generate(&mut rand::thread_rng());
        let pk = key.public_key();
        let good = signed_per_transaction(&key);

        // Appended without the key: hashed and linked correctly, but nobody signed it.
        let mut appended = good.clone();
        let prev = appended[4].entry_hash.clone();
        let body = "{\"n\":6}".to_string();
        let hash = entry_hash(6, &prev, None, "test", &body);
        appended.push(Entry {
            seq: 6,
            kind: "test".into(),
            body,
            recorded_at: None,
            prev_hash: prev,
            entry_hash: hash.to_vec(),
            signature: Vec::new(),
        });
        assert_eq!(verify(&appended, &pk, None), Err(ChainBreak::Unsigned { seq: 6 }));

        // Signatures stripped from the end: the newest is unsigned.
        let mut stripped = good.clone();
        stripped[4].signature.clear();
        assert_eq!(verify(&stripped, &pk, None), Err(ChainBreak::Unsigned { seq: 5 }));

        // Cut back to an entry in the middle of a transaction: its newest is unsigned.
        assert_eq!(
            verify(&good[..4], &pk, None),
            Err(ChainBreak::Unsigned { seq: 4 })
        );

        // A signature that is there must hold, even where none was needed.
        let mut forged = good.clone();
        forged[1].signature = vec![7; 64];
        assert_eq!(verify(&forged, &pk, None), Err(ChainBreak::Signature { seq: 2 }));
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_entry() {
        let key = AuditKey::generate(&mut rand::thread_rng());
        let good = chain(&key, 5);
        let pk = key.public_key();

        let mut edited = good.clone();
        edited[2].body = "{\"n\":99}".into();
        assert_eq!(verify(&edited, &pk, None), Err(ChainBreak::Content { seq: 3 }));

        let mut deleted = good.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, &pk, None).unwrap_err().seq(), Some(3));

        let mut reordered = good.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered, &pk, None).unwrap_err().seq(), Some(3));

        let other = AuditKey::generate(&mut rand::thread_rng());
        let forged = chain(&other, 5);
        assert_eq!(verify(&forged, &pk, None), Err(ChainBreak::Signature { seq: 1 }));

        let head = verify(&good, &pk, None).unwrap().head.unwrap();
        assert_eq!(
            verify(&good[..3], &pk, Some(&head)),
            Err(ChainBreak::Truncated { last: 3, head_seq: 5 })
        );
        let mut moved = head.clone();
        moved.seq = 4;
        assert_eq!(
            verify(&good, &pk, Some(&moved)),
            Err(ChainBreak::HeadMismatch { seq: 4 })
        );
        let mut edited_head = head.clone();
        edited_head.entry_hash = hex::encode(good[3].entry_hash.clone());
        assert_eq!(
            verify(&good, &pk, Some(&edited_head)),
            Err(ChainBreak::Head(HeadError::BadSignature))
        );
    }
}
