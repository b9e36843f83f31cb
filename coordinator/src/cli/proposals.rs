//! `proposal list|show|approve|reject`, and `propose`: how every money-moving admin
//! command records its change for a second admin.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};

use super::admin::print_enrollment;
use super::output::print_json;
use super::wallet::print_created_wallet;
use super::ApiSession;
use crate::service::{Change, CreatedWallet};
use crate::staff_client::StaffApi;
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

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or("")
}

fn id_of(value: &Value) -> u64 {
    value["id"].as_u64().unwrap_or_default()
}

fn at(value: &Value, field: &str) -> UnixTime {
    UnixTime::from_secs(value[field].as_i64().unwrap_or(0))
}

fn print_row(p: &Value) -> Result<()> {
    outln!(
        "{:>5}  {:<8} by {:<12} {}  {}",
        id_of(p),
        text(p, "status"),
        text(p, "proposed_by"),
        at(p, "proposed_at"),
        text(p, "summary")
    );
    Ok(())
}

fn print_detail(p: &Value) -> Result<()> {
    outln!("proposal {}: {}", id_of(p), text(p, "status"));
    outln!("  change       {}", text(p, "summary"));
    outln!("  exactly      {}", serde_json::to_string(&p["change"])?);
    outln!(
        "  proposed     {} by {}",
        at(p, "proposed_at"),
        text(p, "proposed_by")
    );
    outln!("  expires      {}", at(p, "expires_at"));
    if let (Some(by), Some(_)) = (p["decided_by"].as_str(), p["decided_at"].as_i64()) {
        outln!("  decided      {} by {}", at(p, "decided_at"), by);
    }
    if let Some(reason) = p["reason"].as_str() {
        outln!("  reason       {reason}");
    }
    Ok(())
}

/// A created wallet as the API describes it (`kind: wallet`).
fn created_wallet(value: &Value) -> CreatedWallet {
    CreatedWallet {
        name: text(value, "name").to_owned(),
        wallet_id: text(value, "wallet_id").to_owned(),
        kind: text(value, "wallet_kind").to_owned(),
        multipath_descriptor: text(value, "descriptor").to_owned(),
        receive_descriptor: text(value, "receive_descriptor").to_owned(),
        change_descriptor: text(value, "change_descriptor").to_owned(),
    }
}

/// Records `change` as the caller's proposal (`POST /v1/proposals`) and says how it takes
/// effect.
pub(super) fn propose(api: &StaffApi, change: &Change) -> Result<()> {
    let p = api.post("/v1/proposals", &serde_json::to_value(change)?)?;
    outln!("Proposal {} recorded: {}.", id_of(&p), text(&p, "summary"));
    outln!(
        "It takes effect when another admin approves it before {}: `sluice-coordinator proposal approve {}`.",
        at(&p, "expires_at"),
        id_of(&p)
    );
    let preview = &p["preview"];
    match text(preview, "kind") {
        "wallet" => {
            outln!();
            print_created_wallet(&created_wallet(preview))?;
        }
        "signer" => outln!(
            "Once approved, the signer's id is {}.",
            text(preview, "signer_id")
        ),
        _ => {}
    }
    Ok(())
}

pub fn proposal(s: &ApiSession, command: &ProposalCommand, json: bool) -> Result<()> {
    match command {
        ProposalCommand::List { limit } => {
            let reply = s.api.get(&format!("/v1/proposals?limit={limit}"))?;
            let proposals = reply["proposals"].as_array().cloned().unwrap_or_default();
            if json {
                return print_json(&proposals);
            }
            for p in &proposals {
                print_row(p)?;
            }
        }
        ProposalCommand::Show { id } => {
            let p = s.api.get(&format!("/v1/proposals/{id}"))?;
            if json {
                return print_json(&p);
            }
            print_detail(&p)?;
        }
        ProposalCommand::Approve { id } => {
            let reply = s.api.post(&format!("/v1/proposals/{id}/approve"), &json!({}))?;
            let p = &reply["proposal"];
            outln!(
                "Proposal {} by {} applied: {}.",
                id_of(p),
                text(p, "proposed_by"),
                text(p, "summary")
            );
            let applied = &reply["applied"];
            match text(applied, "kind") {
                "enrollment" => print_enrollment(text(applied, "staff"), text(applied, "enrollment_secret"))?,
                "wallet" => print_created_wallet(&created_wallet(applied))?,
                "signer" => outln!("Signer registered with id {}.", text(applied, "signer_id")),
                "beneficiary" => outln!("{} registered.", text(applied, "address")),
                _ => {}
            }
        }
        ProposalCommand::Reject { id, reason } => {
            let p = s.api.post(
                &format!("/v1/proposals/{id}/reject"),
                &json!({ "reason": reason }),
            )?;
            outln!("Proposal {} rejected: {}.", id_of(&p), text(&p, "summary"));
        }
    }
    Ok(())
}
