//! `proposal list|show|approve|reject`, and `propose`: how every money-moving admin
//! command records its change for a second admin.

use anyhow::Result;
use clap::Subcommand;
use rand::rngs::OsRng;

use super::admin::print_enrollment;
use super::output::print_json;
use super::wallet::print_created_wallet;
use super::Session;
use crate::clock;
use crate::service::{Applied, Change, Preview, Proposal};
use crate::time::UnixTime;

#[derive(Debug, Subcommand)]
pub enum ProposalCommand {
    /// Proposed changes, newest first (admin).
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One proposal: the exact change (JSON), who proposed it, its state.
    Show { id: u64 },
    /// Apply another admin's proposal (admin; not your own).
    Approve { id: u64 },
    /// Reject a pending proposal for good (admin; the proposer may withdraw their own).
    Reject {
        id: u64,
        #[arg(long)]
        reason: String,
    },
}

fn print_row(p: &Proposal) -> Result<()> {
    outln!(
        "{:>5}  {:<8} by {:<12} {}  {}",
        p.id,
        p.status,
        p.proposed_by,
        UnixTime::from_secs(p.proposed_at),
        p.summary
    );
    Ok(())
}

fn print_detail(p: &Proposal) -> Result<()> {
    outln!("proposal {}: {}", p.id, p.status);
    outln!("  change       {}", p.summary);
    outln!("  exactly      {}", serde_json::to_string(&p.change)?);
    outln!(
        "  proposed     {} by {}",
        UnixTime::from_secs(p.proposed_at),
        p.proposed_by
    );
    outln!("  expires      {}", UnixTime::from_secs(p.expires_at));
    if let (Some(by), Some(at)) = (&p.decided_by, p.decided_at) {
        outln!("  decided      {} by {}", UnixTime::from_secs(at), by);
    }
    if let Some(reason) = &p.reason {
        outln!("  reason       {reason}");
    }
    Ok(())
}

/// Records `change` as the session's admin's proposal and says how it takes effect.
pub(super) fn propose(s: &mut Session, change: &Change) -> Result<()> {
    let proposed = s.coord.propose(&s.actor, change, &mut OsRng, clock::now())?;
    let p = &proposed.proposal;
    outln!("Proposal {} recorded: {}.", p.id, p.summary);
    outln!(
        "It takes effect when another admin approves it before {}: `sluice-coordinator proposal approve {}`.",
        UnixTime::from_secs(p.expires_at),
        p.id
    );
    match &proposed.preview {
        Preview::Wallet(created) => {
            outln!();
            print_created_wallet(created)?;
        }
        Preview::Signer(id) => outln!("Once approved, the signer's id is {id}."),
        Preview::Beneficiary(_) | Preview::Nothing => {}
    }
    Ok(())
}

pub fn proposal(s: &mut Session, command: &ProposalCommand, json: bool) -> Result<()> {
    let now = clock::now();
    match command {
        ProposalCommand::List { limit } => {
            let proposals = s.coord.list_proposals(&s.actor, *limit, now)?;
            if json {
                return print_json(&proposals);
            }
            for p in &proposals {
                print_row(p)?;
            }
        }
        ProposalCommand::Show { id } => {
            let p = s.coord.proposal(&s.actor, *id, now)?;
            if json {
                return print_json(&p);
            }
            print_detail(&p)?;
        }
        ProposalCommand::Approve { id } => {
            let (p, applied) = s.coord.approve_proposal(&s.actor, *id, &mut OsRng, now)?;
            outln!("Proposal {} by {} applied: {}.", p.id, p.proposed_by, p.summary);
            match applied {
                Applied::Enrollment { staff, secret } => print_enrollment(&staff, &secret)?,
                Applied::Wallet(created) => print_created_wallet(&created)?,
                Applied::Signer(signer) => outln!("Signer registered with id {signer}."),
                Applied::Beneficiary(address) => outln!("{address} registered."),
                Applied::Done => {}
            }
        }
        ProposalCommand::Reject { id, reason } => {
            let p = s.coord.reject_proposal(&s.actor, *id, reason, now)?;
            outln!("Proposal {} rejected: {}.", p.id, p.summary);
        }
    }
    Ok(())
}
