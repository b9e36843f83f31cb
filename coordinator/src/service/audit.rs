//! Reading and verifying the audit log (`crate::audit`). The entries are written by the
//! database itself, in the transaction of each change; here they are only read.

use super::{require, Actor, Coordinator, ServiceError};
use crate::audit::{self, ChainBreak, Entry, Head, VerifiedChain};
use crate::db::audit_log;
use crate::rules::roles::Permission;

impl Coordinator {
    /// Checks the whole chain (and, with `head`, that it still reaches that exported head).
    /// The outer error is a failure to read; the inner one is a broken chain.
    pub fn audit_verify(
        &mut self,
        head: Option<&Head>,
    ) -> Result<Result<VerifiedChain, ChainBreak>, ServiceError> {
        let key = self.db.audit_key();
        let tx = self.db.read()?;
        let entries = audit_log::entries(&tx)?;
        Ok(audit::verify(&entries, &key, head))
    }

    /// The head of a verified chain, for a staff member (the shadow included) to keep
    /// somewhere the coordinator's host cannot write (`GET /v1/audit/head`).
    pub fn audit_head(&mut self, actor: &Actor) -> Result<Head, ServiceError> {
        require(actor, Permission::ReadDepositLedger)?;
        match self.audit_verify(None)? {
            Ok(chain) => chain
                .head
                .ok_or_else(|| ServiceError::NotFound("an audit head (the log has no entries yet)".into())),
            Err(broken) => Err(ServiceError::Conflict(format!(
                "the audit chain is broken ({broken}): not exporting a head; run `audit verify` on the coordinator"
            ))),
        }
    }

    /// The head of entry `seq` as stored (its hash and signature), for a holder of an
    /// older head to check that the chain still passes through it (`GET
    /// /v1/audit/entries/{seq}`; the shadow). Not verified here: the caller checks the
    /// signature, and `audit_head` verifies the whole chain.
    pub fn audit_entry(&mut self, actor: &Actor, seq: u64) -> Result<Head, ServiceError> {
        require(actor, Permission::ReadDepositLedger)?;
        let key = self.db.audit_key();
        let tx = self.db.read()?;
        let seq = i64::try_from(seq).map_err(|_| ServiceError::NotFound(format!("audit entry {seq}")))?;
        let entry = audit_log::entry_at(&tx, seq)?
            .ok_or_else(|| ServiceError::NotFound(format!("audit entry {seq} (the log is shorter)")))?;
        if entry.signature.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "a head at audit entry {seq}: it was not the newest entry of its transaction, so it has no signature of its own (heads are always newest entries)"
            )));
        }
        Ok(Head::of_entry(&entry, &key))
    }

    /// The newest `limit` entries, newest first, unverified (`audit_verify` checks them).
    pub fn audit_recent(&mut self, limit: u32) -> Result<Vec<Entry>, ServiceError> {
        let tx = self.db.read()?;
        Ok(audit_log::recent(&tx, limit)?)
    }
}
