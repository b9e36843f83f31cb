//! Resolving a tagged deposit (issue 11 item 5): compliance proposes to return it to its
//! owner or to transfer it to an authority, naming the destination address; an approver
//! (another person, by role and by name) approves or rejects it; every step is in the
//! deposit's history and the audit log. The coordinator records the decision only: it
//! holds no key of the deposit wallet, and the spend of exactly that deposit's coins is
//! the shadow's (issue 11 item 6), on an officer-signed instruction.

use serde_json::json;

use super::{check_name, require, require_current, Actor, Coordinator, ServiceError};
use crate::db::audit;
use crate::db::deposits::{self as rows, ResolutionRecord};
use crate::rules::deposits::{DepositRefusal, DepositStatus};
use crate::rules::intake::parse_destination;
use crate::rules::roles::Permission;
use crate::time::UnixTime;

/// What to do with a tagged deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolutionAction {
    ReturnToOwner,
    TransferToAuthority,
}

impl ResolutionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionAction::ReturnToOwner => "return_to_owner",
            ResolutionAction::TransferToAuthority => "transfer_to_authority",
        }
    }
}

impl std::str::FromStr for ResolutionAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.replace('-', "_").as_str() {
            "return_to_owner" => Ok(ResolutionAction::ReturnToOwner),
            "transfer_to_authority" => Ok(ResolutionAction::TransferToAuthority),
            _ => Err(format!(
                "unknown resolution {s:?}: use return-to-owner or transfer-to-authority"
            )),
        }
    }
}

impl Coordinator {
    /// Compliance proposes what happens to tagged deposit `deposit_id`.
    pub fn propose_resolution(
        &mut self,
        actor: &Actor,
        deposit_id: u64,
        action: ResolutionAction,
        destination: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<ResolutionRecord, ServiceError> {
        require(actor, Permission::Compliance)?;
        check_name("reason", reason, 500)?;
        let destination = parse_destination(destination, self.network())?.to_string();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Compliance)?;
        let deposit = rows::find(&tx, deposit_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("deposit {deposit_id}")))?;
        if deposit.status != DepositStatus::Tagged {
            return Err(DepositRefusal::NotTagged(deposit_id).into());
        }
        if rows::resolutions(&tx, Some(deposit_id))?
            .iter()
            .any(|r| r.status != "rejected")
        {
            return Err(ServiceError::Conflict(format!(
                "deposit {deposit_id} already has a pending or approved resolution"
            )));
        }
        let id = rows::insert_resolution(
            &tx,
            deposit_id,
            action.as_str(),
            &destination,
            reason,
            actor.name(),
            now,
        )?;
        let note = format!(
            "resolution {id} proposed: {} to {destination} ({reason}); an approver decides",
            action.as_str()
        );
        rows::insert_event(&tx, deposit_id, "resolution_proposed", actor.name(), &note, now)?;
        audit::record(
            &tx,
            actor.name(),
            "resolution propose",
            &deposit.outpoint.to_string(),
            &json!({ "resolution": id, "deposit": deposit_id, "action": action.as_str(), "destination": destination, "reason": reason }),
            now,
        )?;
        let record = rows::find_resolution(&tx, id)?
            .ok_or_else(|| ServiceError::NotFound(format!("resolution {id}")))?;
        tx.commit()?;
        Ok(record)
    }

    /// An approver (not the proposer) approves or rejects a pending resolution.
    pub fn decide_resolution(
        &mut self,
        actor: &Actor,
        id: u64,
        approve: bool,
        note: &str,
        now: UnixTime,
    ) -> Result<ResolutionRecord, ServiceError> {
        require(actor, Permission::ApproveResolution)?;
        check_name("note", note, 500)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::ApproveResolution)?;
        let resolution = rows::find_resolution(&tx, id)?
            .ok_or_else(|| ServiceError::NotFound(format!("resolution {id}")))?;
        if resolution.proposed_by == actor.name() {
            return Err(ServiceError::Forbidden {
                name: actor.name().to_owned(),
                role: actor.role(),
                needed: Permission::ApproveResolution,
            });
        }
        if !rows::decide_resolution(&tx, id, approve, actor.name(), note, now)? {
            return Err(ServiceError::Conflict(format!(
                "resolution {id} is already {}",
                resolution.status
            )));
        }
        let (kind, verdict) = if approve {
            (
                "resolution_approved",
                "approved: the shadow spends it on an officer-signed instruction",
            )
        } else {
            ("resolution_rejected", "rejected")
        };
        let text = format!(
            "resolution {id} ({} to {}) {verdict} by {}: {note}",
            resolution.action,
            resolution.destination,
            actor.name()
        );
        rows::insert_event(&tx, resolution.deposit_id, kind, actor.name(), &text, now)?;
        audit::record(
            &tx,
            actor.name(),
            if approve {
                "resolution approve"
            } else {
                "resolution reject"
            },
            &format!("resolution {id}"),
            &json!({ "deposit": resolution.deposit_id, "note": note }),
            now,
        )?;
        let record = rows::find_resolution(&tx, id)?
            .ok_or_else(|| ServiceError::NotFound(format!("resolution {id}")))?;
        tx.commit()?;
        Ok(record)
    }

    pub fn resolutions(
        &mut self,
        actor: &Actor,
        deposit_id: Option<u64>,
    ) -> Result<Vec<ResolutionRecord>, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        Ok(rows::resolutions(&tx, deposit_id)?)
    }
}
