//! `withdraw`, `approve`, `reject`, `list`, `show`.

use anyhow::Result;
use clap::Args;
use sluice_shared::api::{NewWithdrawal, WithdrawalStatus};
use sluice_shared::asset::parse_btc;

use super::output::{print_detail, print_json, print_row};
use super::Session;
use crate::clock;
use crate::service::{Intake, WithdrawalQuery};

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

pub fn withdraw(s: &mut Session, args: &WithdrawArgs, json: bool) -> Result<()> {
    let request = NewWithdrawal {
        customer_id: args.customer.clone(),
        wallet: args.wallet.clone(),
        destination: args.to.clone(),
        amount_sat: parse_btc(&args.amount)?,
    };
    let outcome = s
        .coord
        .request_withdrawal(&s.actor, &args.idempotency_key, &request, clock::now())?;
    if json {
        return print_json(outcome.detail());
    }
    if let Intake::Existing(d) = &outcome {
        outln!(
            "Idempotency key {:?} was already used for this same request: nothing new recorded (withdrawal {}).",
            args.idempotency_key, d.withdrawal.id
        );
    }
    print_detail(outcome.detail())?;
    Ok(())
}

pub fn approve(s: &mut Session, id: u64, json: bool) -> Result<()> {
    let detail = s.coord.approve(&s.actor, id, clock::now())?;
    if json {
        return print_json(&detail);
    }
    print_detail(&detail)?;
    Ok(())
}

pub fn reject(s: &mut Session, id: u64, reason: &str, json: bool) -> Result<()> {
    let detail = s.coord.reject(&s.actor, id, reason, clock::now())?;
    if json {
        return print_json(&detail);
    }
    print_detail(&detail)?;
    Ok(())
}

pub fn cancel(s: &mut Session, id: u64, reason: &str, json: bool) -> Result<()> {
    let detail = s.coord.cancel(&s.actor, id, reason, clock::now())?;
    if json {
        return print_json(&detail);
    }
    print_detail(&detail)?;
    Ok(())
}

pub fn list(s: &mut Session, args: &ListArgs, json: bool) -> Result<()> {
    let query = WithdrawalQuery {
        status: args.status,
        before_id: args.before,
        limit: Some(args.limit),
    };
    let list = s.coord.list_withdrawals(&s.actor, &query)?;
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

pub fn show(s: &mut Session, id: u64, json: bool) -> Result<()> {
    let detail = s.coord.withdrawal(&s.actor, id)?;
    if json {
        return print_json(&detail);
    }
    print_detail(&detail)?;
    Ok(())
}
