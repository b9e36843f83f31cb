//! How withdrawals look on a terminal (or as JSON with --json).

use anyhow::{Context as _, Result};
use serde::Serialize;
use sluice_shared::api::{Withdrawal, WithdrawalDetail, WithdrawalStatus};
use sluice_shared::asset::format_btc;

use crate::time::UnixTime;

/// An API reply as the type the API serialised.
pub fn from_reply<T: serde::de::DeserializeOwned>(reply: serde_json::Value) -> Result<T> {
    serde_json::from_value(reply)
        .context("the coordinator API's reply is not what this CLI expects (a different version?)")
}

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// As a `serde_json::Value` prints it, which is how these commands printed before they went
/// through the API: the same keys in the same order, whatever the reply type's field order.
pub fn print_sorted_json<T: Serialize>(value: &T) -> Result<()> {
    print_json(&serde_json::to_value(value)?)
}

fn at(secs: i64) -> String {
    UnixTime::from_secs(secs).to_string()
}

/// One line per withdrawal, for `list`.
pub fn print_row(w: &Withdrawal) -> Result<()> {
    outln!(
        "{:>6}  {:<16}  {:>18}  {:<12} {:<10} {}  {}",
        w.id,
        w.status.as_str(),
        format_btc(w.amount_sat),
        w.customer_id,
        w.wallet,
        at(w.created_at),
        w.destination
    );
    Ok(())
}

pub fn print_detail(d: &WithdrawalDetail) -> Result<()> {
    let w = &d.withdrawal;
    outln!("withdrawal {}: {}", w.id, w.status.as_str());
    outln!("  customer     {}", w.customer_id);
    outln!("  wallet       {}", w.wallet);
    outln!("  destination  {}", w.destination);
    outln!("  amount       {}", format_btc(w.amount_sat));
    outln!(
        "  fee          {} (charged to the customer)",
        format_btc(w.fee_sat)
    );
    outln!("  requested    {} by {}", at(w.created_at), w.requested_by);
    if let (Some(session), Some(txid)) = (w.session_id, &w.txid) {
        outln!("  session      {session}");
        outln!("  txid         {txid}");
    }
    if !d.flags.is_empty() {
        outln!("risk flags (manual approval required):");
        for f in &d.flags {
            outln!("  {:<18} {}", f.kind.as_str(), f.reason);
        }
    }
    if !d.signer_refusals.is_empty() {
        outln!("signer refusals (latest per signer):");
        for r in &d.signer_refusals {
            outln!(
                "  {}  {:<12} session {} signer {}: {}",
                at(r.reported_at),
                r.reason,
                r.session_id,
                r.signer_id,
                r.detail
            );
        }
    }
    if !d.approvals.is_empty() {
        outln!("approvals:");
        for a in &d.approvals {
            outln!(
                "  {}  {:<10} {}{}",
                at(a.approved_at),
                a.method.as_str(),
                a.approver.as_deref().unwrap_or("(rule)"),
                a.detail.as_deref().map(|d| format!("  {d}")).unwrap_or_default()
            );
        }
    }
    outln!("history:");
    for e in &d.history {
        outln!(
            "  {}  {:<18} {}{}",
            at(e.recorded_at),
            e.kind.as_str(),
            e.actor,
            e.reason.as_deref().map(|r| format!("  {r}")).unwrap_or_default()
        );
    }
    if w.status == WithdrawalStatus::PendingApproval {
        outln!(
            "waiting for approval: `sluice-coordinator approve {}` (another approver than the requester)",
            w.id
        );
    }
    Ok(())
}
