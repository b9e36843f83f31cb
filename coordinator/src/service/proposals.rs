//! Four eyes on configuration. An admin proposes a `Change`; it is checked by a dry run
//! (applied and rolled back) and stored as canonical JSON with who proposed it and when.
//! A second, different, active admin approves it before it expires: the change is then
//! applied and the proposal marked applied in one IMMEDIATE transaction. A proposal is
//! decided once; any admin may reject a pending one (the proposer withdraws their own).

use rand::{CryptoRng, RngCore};
use serde::Serialize;
use serde_json::json;

use super::changes::{apply, Applied, Change, ChangeContext, Preview};
use super::{require, require_current, Actor, Coordinator, ServiceError};
use crate::db::proposals::{self, ProposalRecord, ProposalStatus};
use crate::db::{audit, staff, DbError};
use crate::rules::proposals::{
    check_approve_proposal, check_reject_proposal, expiry, ProposalFacts, PROPOSAL_LIFETIME,
};
use crate::rules::roles::{Permission, Role};
use crate::time::UnixTime;

/// A proposal as admins see it (and the API returns it).
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub id: u64,
    pub change: Change,
    pub summary: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub expires_at: i64,
    /// pending, expired, applied or rejected.
    pub status: &'static str,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub reason: Option<String>,
}

/// A proposal just recorded, with what its dry run showed it will do.
#[derive(Debug)]
pub struct Proposed {
    pub proposal: Proposal,
    pub preview: Preview,
}

fn to_view(record: ProposalRecord, now: UnixTime) -> Result<Proposal, ServiceError> {
    let change: Change = serde_json::from_str(&record.change)
        .map_err(|e| DbError::Corrupt(format!("proposal {} change: {e}", record.id)))?;
    let status = match record.status {
        ProposalStatus::Pending if now >= record.expires_at => "expired",
        other => other.as_str(),
    };
    Ok(Proposal {
        id: record.id,
        change,
        summary: record.summary,
        proposed_by: record.proposed_by,
        proposed_at: record.proposed_at.secs(),
        expires_at: record.expires_at.secs(),
        status,
        decided_by: record.decided_by,
        decided_at: record.decided_at.map(UnixTime::secs),
        reason: record.reason,
    })
}

fn facts<'a>(
    conn: &rusqlite::Connection,
    record: &'a ProposalRecord,
) -> Result<ProposalFacts<'a>, ServiceError> {
    let proposer_active_admin =
        staff::find(conn, &record.proposed_by)?.is_some_and(|s| s.active && s.role == Role::Admin);
    Ok(ProposalFacts {
        status: record.status.as_str(),
        proposed_by: &record.proposed_by,
        expires_at: record.expires_at,
        proposer_active_admin,
    })
}

fn not_found(id: u64) -> ServiceError {
    ServiceError::NotFound(format!("proposal {id} (`proposal list` shows them)"))
}

impl Coordinator {
    /// Records `change` as a proposal by `actor`, after a dry run shows it would apply
    /// now. Nothing takes effect until another admin approves it.
    pub fn propose<R: RngCore + CryptoRng>(
        &mut self,
        actor: &Actor,
        change: &Change,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<Proposed, ServiceError> {
        require(actor, Permission::Administer)?;
        let network = self.network();
        let canonical = change.canonical_json()?;
        let summary = change.summary();
        let mut tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        let preview = {
            let dry_run = tx.savepoint()?;
            let ctx = ChangeContext {
                network,
                proposer: actor.name(),
                now,
            };
            let applied = apply(&dry_run, &ctx, change, rng)?;
            // Dropping the savepoint rolls the dry run back; its secrets are discarded.
            applied.preview()
        };
        let id = proposals::insert(
            &tx,
            &canonical,
            &summary,
            actor.name(),
            now,
            expiry(now, PROPOSAL_LIFETIME),
        )?;
        audit::record(
            &tx,
            actor.name(),
            "proposal create",
            &format!("proposal {id}"),
            &json!({"summary": summary, "change": change}),
            now,
        )?;
        let record = proposals::find(&tx, id)?.ok_or_else(|| not_found(id))?;
        tx.commit()?;
        Ok(Proposed {
            proposal: to_view(record, now)?,
            preview,
        })
    }

    /// Applies a pending proposal another admin made: the change and the decision are
    /// one transaction. Returns the proposal and what the change produced (an enrollment
    /// secret to hand over, a created wallet's descriptors, ...).
    pub fn approve_proposal<R: RngCore + CryptoRng>(
        &mut self,
        actor: &Actor,
        id: u64,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<(Proposal, Applied), ServiceError> {
        require(actor, Permission::Administer)?;
        let network = self.network();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        let record = proposals::find(&tx, id)?.ok_or_else(|| not_found(id))?;
        check_approve_proposal(actor.name(), &facts(&tx, &record)?, now)?;
        let change: Change = serde_json::from_str(&record.change)
            .map_err(|e| DbError::Corrupt(format!("proposal {id} change: {e}")))?;
        let ctx = ChangeContext {
            network,
            proposer: &record.proposed_by,
            now,
        };
        let applied = apply(&tx, &ctx, &change, rng)?;
        if !proposals::decide(&tx, id, ProposalStatus::Applied, actor.name(), None, now)? {
            return Err(ServiceError::Invalid(format!(
                "proposal {id} was decided meanwhile"
            )));
        }
        audit::record(
            &tx,
            actor.name(),
            "proposal approve",
            &format!("proposal {id}"),
            &json!({"proposed_by": record.proposed_by, "summary": record.summary}),
            now,
        )?;
        let decided = proposals::find(&tx, id)?.ok_or_else(|| not_found(id))?;
        tx.commit()?;
        Ok((to_view(decided, now)?, applied))
    }

    /// Rejects a pending proposal for good (any admin, the proposer included).
    pub fn reject_proposal(
        &mut self,
        actor: &Actor,
        id: u64,
        reason: &str,
        now: UnixTime,
    ) -> Result<Proposal, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        let record = proposals::find(&tx, id)?.ok_or_else(|| not_found(id))?;
        let reason = check_reject_proposal(&facts(&tx, &record)?, reason)?;
        proposals::decide(&tx, id, ProposalStatus::Rejected, actor.name(), Some(reason), now)?;
        audit::record(
            &tx,
            actor.name(),
            "proposal reject",
            &format!("proposal {id}"),
            &json!({"proposed_by": record.proposed_by, "summary": record.summary, "reason": reason}),
            now,
        )?;
        let decided = proposals::find(&tx, id)?.ok_or_else(|| not_found(id))?;
        tx.commit()?;
        to_view(decided, now)
    }

    /// The newest proposals, newest first (admin).
    pub fn list_proposals(
        &mut self,
        actor: &Actor,
        limit: u32,
        now: UnixTime,
    ) -> Result<Vec<Proposal>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        proposals::list(&tx, limit)?
            .into_iter()
            .map(|r| to_view(r, now))
            .collect()
    }

    pub fn proposal(&mut self, actor: &Actor, id: u64, now: UnixTime) -> Result<Proposal, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        to_view(proposals::find(&tx, id)?.ok_or_else(|| not_found(id))?, now)
    }

    /// Two admins at one desk: `proposer` proposes, `approver` approves at once. The same
    /// two steps, and the same checks, as through the CLI or API (setup scripts, tests).
    pub fn propose_and_approve<R: RngCore + CryptoRng>(
        &mut self,
        proposer: &Actor,
        approver: &Actor,
        change: &Change,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<Applied, ServiceError> {
        let proposed = self.propose(proposer, change, rng, now)?;
        let (_, applied) = self.approve_proposal(approver, proposed.proposal.id, rng, now)?;
        Ok(applied)
    }
}
