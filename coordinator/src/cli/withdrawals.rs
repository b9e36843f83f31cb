//! `withdraw`, `approve`, `reject`, `list`, `show`.

use anyhow::Result;
use clap::Args;
use sluice_shared::api::{NewWithdrawal, WithdrawalDetail, WithdrawalList, WithdrawalStatus};
use sluice_shared::asset::parse_btc;

use super::output::{from_reply, print_detail, print_json, print_row};
use super::ApiSession;

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    #[arg(long)]
    customer: String,
    #[arg(long)]
    wallet: String,
    /// The destination: a registered beneficiary address of the customer.
    #[arg(long)]
    to: String,
    /// The amount the destination receives, in BTC.
    #[arg(long, value_name = "BTC")]
    amount: String,
    /// Unique per withdrawal (e.g. your order id): retrying with the same key and the
    /// same request returns the original instead of paying twice.
    #[arg(long)]
    idempotency_key: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status (pending_approval, approved, rejected, ...).
    #[arg(long)]
    status: Option<WithdrawalStatus>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Only ids below this (the next page).
    #[arg(long)]
    before: Option<u64>,
}

/// `withdraw`: `POST /v1/withdrawals` with the withdrawal's own idempotency key.
pub fn withdraw(s: &ApiSession, args: &WithdrawArgs, json: bool) -> Result<()> {
    let request = NewWithdrawal {
        customer_id: args.customer.clone(),
        wallet: args.wallet.clone(),
        destination: args.to.clone(),
        amount_sat: parse_btc(&args.amount)?,
    };
    let (status, reply) = s.api.post_with_key(
        "/v1/withdrawals",
        &serde_json::to_value(&request)?,
        &args.idempotency_key,
    )?;
    let detail: WithdrawalDetail = from_reply(reply)?;
    if json {
        return print_json(&detail);
    }
    // 200 (not 201 Created): the key was seen with this same request.
    if status == hyper::StatusCode::OK {
        outln!(
            "Idempotency key {:?} was already used for this same request: nothing new recorded (withdrawal {}).",
            args.idempotency_key, detail.withdrawal.id
        );
    }
    print_detail(&detail)?;
    Ok(())
}

/// A decision on withdrawal `id` (`approve`, `reject`, `cancel`), printed as its detail.
fn decide(s: &ApiSession, id: u64, action: &str, body: serde_json::Value, json: bool) -> Result<()> {
    let detail: WithdrawalDetail = from_reply(s.api.post(&format!("/v1/withdrawals/{id}/{action}"), &body)?)?;
    if json {
        return print_json(&detail);
    }
    print_detail(&detail)?;
    Ok(())
}

pub fn approve(s: &ApiSession, id: u64, json: bool) -> Result<()> {
    decide(s, id, "approve", serde_json::json!({}), json)
}

pub fn reject(s: &ApiSession, id: u64, reason: &str, json: bool) -> Result<()> {
    decide(s, id, "reject", serde_json::json!({ "reason": reason }), json)
}

pub fn cancel(s: &ApiSession, id: u64, reason: &str, json: bool) -> Result<()> {
    decide(s, id, "cancel", serde_json::json!({ "reason": reason }), json)
}

pub fn list(s: &ApiSession, args: &ListArgs, json: bool) -> Result<()> {
    let mut query = format!("/v1/withdrawals?limit={}", args.limit);
    if let Some(status) = args.status {
        query.push_str(&format!("&status={}", status.as_str()));
    }
    if let Some(before) = args.before {
        query.push_str(&format!("&before={before}"));
    }
    let list: WithdrawalList = from_reply(s.api.get(&query)?)?;
    if json {
        return print_json(&list);
    }
    if list.withdrawals.is_empty() {
        outln!("No withdrawals.");
    }
    for w in &list.withdrawals {
        print_row(w)?;
    }
    Ok(())
}

pub fn show(s: &ApiSession, id: u64, json: bool) -> Result<()> {
    let detail: WithdrawalDetail = from_reply(s.api.get(&format!("/v1/withdrawals/{id}"))?)?;
    if json {
        return print_json(&detail);
    }
    print_detail(&detail)?;
    Ok(())
}
