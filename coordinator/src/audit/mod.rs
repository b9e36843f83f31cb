//! The tamper-evident audit log: every staff action, approval, state change, proposal and
//! signer event is an entry in one hash chain, each entry signed by the coordinator's
//! audit key.
//!
//! The database appends the entries itself, in the transaction that makes the change:
//! triggers on the recorded tables (`db::schema`, migration 9) write an entry's kind, time
//! and canonical body, and one trigger seals it with the `sluice_audit_hash` and
//! `sluice_audit_sign` functions that `db::audit_log` registers on every connection, so
//! no code path can change a recorded table without its entry, and a connection without
//! the audit key cannot write at all.
//!
//! This module is the pure part: how an entry is hashed, and the check of a whole chain
//! (`verify`), which names the first entry that was edited, deleted, inserted or
//! reordered, and with an exported `Head` also notices entries cut off the end.

mod chain;
mod key;

pub use self::chain::{entry_hash, verify, ChainBreak, Entry, Head, HeadError, VerifiedChain, GENESIS};
pub use self::key::{AuditKey, AuditKeyError};
