//! The tamper-evident audit log: every staff action, approval, state change, proposal and
//! signer event is an entry in one hash chain, and the newest entry of every transaction
//! is signed by the coordinator's audit key (the signature covers the entries before it
//! through the links).
//!
//! The database appends the entries itself, in the transaction that makes the change:
//! triggers on the recorded tables (`db::schema`, migration 9) write an entry's kind, time
//! and canonical body, and one trigger links and hashes it with the `sluice_audit_hash`
//! function that `db::audit_log` registers on every connection (migration 18), so no code
//! path can change a recorded table without its entry, and a connection without the
//! audit functions cannot write at all. Just before each write transaction commits,
//! `db::audit_log::sign_newest` signs its newest entry with `sluice_audit_sign`.
//!
//! This module is the pure part: how an entry is hashed, and the check of a whole chain
//! (`verify`), which names the first entry that was edited, deleted, inserted or
//! reordered, and with an exported `Head` also notices entries cut off the end.

mod chain;
mod key;

pub use self::chain::{entry_hash, verify, ChainBreak, Entry, Head, HeadError, VerifiedChain, GENESIS};
pub use self::key::{AuditKey, AuditKeyError};
