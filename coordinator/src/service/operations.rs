//! What operators watch: queue depth, signers' backlog, the chain and the sender, read in
//! one snapshot for `GET /metrics` (rendered by `api::metrics`) and `GET /healthz`.

use crate::db::cached::CachedSql;
use std::collections::BTreeMap;

use rusqlite::OptionalExtension;
use sluice_shared::api::WithdrawalStatus;

use super::{Coordinator, ServiceError};
use crate::db::{signer_refusals, signers};
use crate::time::UnixTime;

/// The numbers behind `/metrics`, read in one transaction at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationsSnapshot {
    pub at: UnixTime,
    /// Every status, zero included.
    pub withdrawals_by_status: Vec<(WithdrawalStatus, u64)>,
    /// Per active signer (by name): open sessions that need its signature and hold none
    /// of its keys' yet (what it would be offered now).
    pub sessions_waiting_by_signer: BTreeMap<String, u64>,
    /// The highest block the monitor applied, and when.
    pub last_block: Option<(u64, UnixTime)>,
    /// Fully signed sessions not yet sent, and the oldest one's age.
    pub unsent_sessions: u64,
    pub oldest_unsent_age_secs: Option<u64>,
    /// Sent transactions not yet in a block, and the longest since one was (re)sent.
    pub unconfirmed_broadcasts: u64,
    pub oldest_unconfirmed_age_secs: Option<u64>,
    pub audit_entries: u64,
    /// Refusals online signers reported: (signer name, reason, reports).
    pub signer_refusals: Vec<(String, String, u64)>,
    /// Per active signer (by name): its latest report says paused and it signed nothing since.
    pub signers_paused: Vec<(String, bool)>,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn age(at: UnixTime, then: Option<i64>) -> Option<u64> {
    then.map(|t| count(at.secs().saturating_sub(t)))
}

impl Coordinator {
    /// The database answers a read: the process is up and its database usable.
    pub fn health_check(&mut self) -> Result<(), ServiceError> {
        let tx = self.db.read()?;
        tx.query_row_cached("SELECT COUNT(*) FROM meta", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    pub fn operations_snapshot(&mut self, at: UnixTime) -> Result<OperationsSnapshot, ServiceError> {
        // The same rule that decides what each signer is offered (`sessions_for_signer`),
        // so the metric and the signers agree.
        let signers = {
            let tx = self.db.read()?;
            signers::list(&tx)?
        };
        let mut sessions_waiting_by_signer = BTreeMap::new();
        for signer in signers.iter().filter(|s| s.active) {
            let waiting = self.sessions_for_signer(signer)?.len();
            sessions_waiting_by_signer
                .insert(signer.name.clone(), u64::try_from(waiting).unwrap_or(u64::MAX));
        }
        let tx = self.db.read()?;
        let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut stmt = tx.prepare_cached("SELECT status, COUNT(*) FROM withdrawals GROUP BY status")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (status, n) = row?;
                by_status.insert(status, n);
            }
        }
        let withdrawals_by_status = WithdrawalStatus::ALL
            .into_iter()
            .map(|s| (s, count(by_status.get(s.as_str()).copied().unwrap_or(0))))
            .collect();

        let last_block = tx
            .query_row_cached(
                "SELECT height, applied_at FROM chain_blocks ORDER BY height DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?
            .map(|(h, t)| (count(h), UnixTime::from_secs(t)));
        let (unsent, oldest_unsent) = tx.query_row_cached(
            "SELECT COUNT(*), MIN(ss.updated_at) FROM signing_sessions ss \
             WHERE ss.status = 'signed' AND NOT EXISTS (SELECT 1 FROM broadcasts b WHERE b.session_id = ss.id)",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
        )?;
        let (unconfirmed, oldest_unconfirmed) = tx.query_row_cached(
            "SELECT COUNT(*), MIN(COALESCE(b.last_sent_at, b.first_sent_at)) FROM broadcasts b \
             JOIN signing_sessions ss ON ss.id = b.session_id \
             WHERE b.block_height IS NULL AND ss.status = 'broadcast'",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
        )?;
        let audit_entries: i64 = tx.query_row_cached("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))?;
        Ok(OperationsSnapshot {
            at,
            withdrawals_by_status,
            sessions_waiting_by_signer,
            last_block,
            unsent_sessions: count(unsent),
            oldest_unsent_age_secs: age(at, oldest_unsent),
            unconfirmed_broadcasts: count(unconfirmed),
            oldest_unconfirmed_age_secs: age(at, oldest_unconfirmed),
            audit_entries: count(audit_entries),
            signer_refusals: signer_refusals::totals(&tx)?,
            signers_paused: signer_refusals::paused(&tx)?,
        })
    }
}
