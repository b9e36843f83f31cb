//! Deposit and compliance commands: `deposit` (wallets, addresses, the ledger, manual
//! tags), `kyc` (customers' KYC status) and `blocklist import`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bitcoin::Amount;
use clap::{Args, Subcommand};
use serde_json::json;
use sluice_shared::asset::{format_btc, parse_btc};
use sluice_shared::deposit_api::{
    CustomerKyc, Deposit, DepositAddress, DepositAddressList, DepositList, Resolution, ResolutionList,
    UnconfirmedDepositList,
};

use super::output::{from_reply, print_json};
use super::proposals::propose;
use super::ApiSession;
use crate::api::messages::DepositWalletList;
use crate::rules::deposits::{AddressPolicy, DepositSettings, DepositStatus};
use crate::rules::kyc::{KycStanding, KycStatus};
use crate::service::{Change, ResolutionAction, MAX_DEPOSIT_LISTING};
use crate::staff_client::encode_component;
use crate::time::UnixTime;

#[derive(Debug, Subcommand)]
pub enum DepositCommand {
    /// Mark a wallet as a deposit wallet, or change its settings (a proposal another
    /// admin approves). From then on only the shadow spends it.
    Wallet(DepositWalletArgs),
    /// Issue a deposit address to a customer (requester).
    Address {
        #[arg(long)]
        customer: String,
        /// The deposit wallet (default: the only one).
        #[arg(long)]
        wallet: Option<String>,
    },
    /// Issued deposit addresses with their derivation index (and those found unassigned).
    Addresses {
        #[arg(long)]
        wallet: Option<String>,
        #[arg(long)]
        customer: Option<String>,
    },
    /// The deposit ledger, newest first.
    List {
        /// pending, credited, reversed, tagged or unassigned.
        #[arg(long)]
        status: Option<DepositStatus>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Payments to deposit addresses still in the node's mempool (pending, never
    /// credited; the monitor refreshes them at each pass).
    Unconfirmed {
        #[arg(long)]
        customer: Option<String>,
    },
    /// One deposit with its tags and history.
    Show { id: u64 },
    /// Tag (quarantine) a deposit by hand (compliance).
    Tag {
        id: u64,
        #[arg(long)]
        reason: String,
    },
    /// Propose what happens to a tagged deposit (compliance); an approver decides, the
    /// shadow spends it.
    Resolve {
        id: u64,
        /// return-to-owner or transfer-to-authority.
        #[arg(long)]
        action: ResolutionAction,
        /// The owner's or the authority's address.
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// Approve a proposed resolution (approver, not its proposer).
    ApproveResolution {
        id: u64,
        #[arg(long)]
        note: String,
    },
    /// Reject a proposed resolution (approver).
    RejectResolution {
        id: u64,
        #[arg(long)]
        note: String,
    },
    /// Resolutions, optionally of one deposit.
    Resolutions {
        #[arg(long)]
        deposit: Option<u64>,
    },
}

#[derive(Debug, Args)]
pub struct DepositWalletArgs {
    #[arg(long)]
    pub wallet: String,
    /// per-request (a new address each time) or per-customer (one address each).
    #[arg(long, default_value = "per-request")]
    pub policy: AddressPolicy,
    /// Refuse to issue when this many issued addresses have received nothing.
    #[arg(long, default_value_t = 20)]
    pub gap_limit: u32,
    /// Confirmations after which a deposit is credited.
    #[arg(long, default_value_t = 6)]
    pub credit_confirmations: u32,
    /// Tag deposits above this amount (BTC) for review.
    #[arg(long, value_name = "BTC")]
    pub tag_above: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KycCommand {
    /// Set a customer's KYC status (compliance).
    Set {
        #[arg(long)]
        customer: String,
        /// verified, unverified or revoked.
        #[arg(long)]
        status: String,
        /// With verified: valid through this UTC day (YYYY-MM-DD); without, no expiry.
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<String>,
        /// Why (documents checked, case number), for the history.
        #[arg(long)]
        note: String,
    },
    /// A customer's KYC status and its history.
    Show {
        #[arg(long)]
        customer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BlocklistCommand {
    /// Import a file of TXID:VOUT, TXID or address lines (`#` starts a comment; a note
    /// after an entry is kept). One bad line refuses the whole file (compliance).
    Import { file: PathBuf },
}

/// `?key=value&...` of the given pairs that are present, values percent-encoded.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<String> = pairs
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode_component(v))))
        .collect();
    if present.is_empty() {
        String::new()
    } else {
        format!("?{}", present.join("&"))
    }
}

fn at(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

pub fn deposit(s: &ApiSession, command: &DepositCommand, json: bool) -> Result<()> {
    match command {
        DepositCommand::Wallet(args) => {
            let settings = DepositSettings {
                address_policy: args.policy,
                gap_limit: args.gap_limit,
                credit_confirmations: args.credit_confirmations,
                tag_above_sat: args.tag_above.as_deref().map(parse_btc).transpose()?,
            };
            propose(
                &s.api,
                &Change::DepositWallet {
                    wallet: args.wallet.clone(),
                    settings,
                },
            )?;
        }
        DepositCommand::Address { customer, wallet } => {
            let wallet = match wallet {
                Some(wallet) => wallet.clone(),
                None => {
                    let list: DepositWalletList = from_reply(s.api.get("/v1/deposit-wallets")?)?;
                    match list.wallets.as_slice() {
                        [only] => only.wallet.clone(),
                        [] => bail!("there is no deposit wallet: an admin marks one with `deposit wallet`"),
                        _ => bail!("there are several deposit wallets: name one with --wallet"),
                    }
                }
            };
            let issued: DepositAddress = from_reply(s.api.post(
                "/v1/deposit-addresses",
                &json!({ "wallet": wallet, "customer_id": customer }),
            )?)?;
            if json {
                print_json(&issued)?;
            } else {
                outln!("{}", issued.address);
                outln!(
                    "(wallet {}, index {}, customer {customer})",
                    issued.wallet,
                    issued.derivation_index
                );
            }
        }
        DepositCommand::Addresses { wallet, customer } => {
            let path = format!(
                "/v1/deposit-addresses{}",
                query(&[("wallet", wallet.clone()), ("customer", customer.clone())])
            );
            let list: DepositAddressList = from_reply(s.api.get(&path)?)?;
            if json {
                print_json(&list)?;
            } else {
                for a in &list.addresses {
                    outln!(
                        "{:<12} {:>6} {:<64} {}",
                        a.wallet,
                        a.derivation_index,
                        a.address,
                        a.customer_id.as_deref().unwrap_or("(issued to no one)")
                    );
                }
            }
        }
        DepositCommand::List {
            status,
            customer,
            limit,
        } => {
            let path = format!(
                "/v1/deposits{}",
                query(&[
                    ("status", status.map(|s| s.as_str().to_owned())),
                    ("customer", customer.clone()),
                    ("limit", Some((*limit).min(MAX_DEPOSIT_LISTING).to_string())),
                ])
            );
            let list: DepositList = from_reply(s.api.get(&path)?)?;
            if json {
                print_json(&list)?;
            } else {
                for d in &list.deposits {
                    outln!(
                        "{:>5} {:<10} {:>16} {:>3} conf  {}:{}  customer {}",
                        d.id,
                        d.status,
                        format_btc(Amount::from_sat(d.amount_sat)),
                        d.confirmations,
                        d.txid,
                        d.vout,
                        d.customer_id.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        DepositCommand::Unconfirmed { customer } => {
            let path = format!(
                "/v1/unconfirmed-deposits{}",
                query(&[("customer", customer.clone())])
            );
            let list: UnconfirmedDepositList = from_reply(s.api.get(&path)?)?;
            if json {
                print_json(&list)?;
            } else {
                for d in &list.deposits {
                    outln!(
                        "unconfirmed {:>16}  {}:{}  {}  customer {}",
                        format_btc(Amount::from_sat(d.amount_sat)),
                        d.txid,
                        d.vout,
                        d.address,
                        d.customer_id.as_deref().unwrap_or("- (issued to no one)")
                    );
                }
            }
        }
        DepositCommand::Show { id } => {
            let d: Deposit = from_reply(s.api.get(&format!("/v1/deposits/{id}"))?)?;
            if json {
                print_json(&d)?;
            } else {
                print_deposit(&d)?;
            }
        }
        DepositCommand::Tag { id, reason } => {
            s.api
                .post(&format!("/v1/deposits/{id}/tag"), &json!({ "reason": reason }))?;
            outln!("Deposit {id} tagged: quarantined, never credited, never spent with other coins.");
        }
        DepositCommand::Resolve {
            id,
            action,
            to,
            reason,
        } => {
            let r: Resolution = from_reply(s.api.post(
                &format!("/v1/deposits/{id}/resolutions"),
                &json!({ "action": action.as_str(), "destination": to, "reason": reason }),
            )?)?;
            outln!(
                "Resolution {} proposed: {} of deposit {id} to {}. An approver decides: `deposit approve-resolution {}`.",
                r.id,
                r.action,
                r.destination,
                r.id
            );
        }
        DepositCommand::ApproveResolution { id, note } | DepositCommand::RejectResolution { id, note } => {
            let approve = matches!(command, DepositCommand::ApproveResolution { .. });
            let verb = if approve { "approve" } else { "reject" };
            let r: Resolution = from_reply(
                s.api
                    .post(&format!("/v1/resolutions/{id}/{verb}"), &json!({ "note": note }))?,
            )?;
            outln!(
                "Resolution {id} {}: {} of deposit {} to {}.{}",
                r.status,
                r.action,
                r.deposit_id,
                r.destination,
                if approve {
                    " The shadow spends it on an officer-signed instruction."
                } else {
                    ""
                }
            );
        }
        DepositCommand::Resolutions { deposit } => {
            let path = format!(
                "/v1/resolutions{}",
                query(&[("deposit", deposit.map(|d| d.to_string()))])
            );
            let list: ResolutionList = from_reply(s.api.get(&path)?)?;
            for r in &list.resolutions {
                outln!(
                    "{:>4} deposit {:>5} {:<22} {:<9} to {}  proposed by {} ({}){}",
                    r.id,
                    r.deposit_id,
                    r.action,
                    r.status,
                    r.destination,
                    r.proposed_by,
                    r.reason,
                    r.decided_by
                        .as_ref()
                        .map(|by| format!(", decided by {by}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

fn print_deposit(d: &Deposit) -> Result<()> {
    outln!(
        "Deposit {}: {} {}",
        d.id,
        d.status,
        format_btc(Amount::from_sat(d.amount_sat))
    );
    outln!("  outpoint  {}:{}", d.txid, d.vout);
    outln!(
        "  address   {} (wallet {}, index {})",
        d.address,
        d.wallet,
        d.derivation_index
    );
    outln!(
        "  customer  {}",
        d.customer_id.as_deref().unwrap_or("(issued to no one)")
    );
    match (d.block_height, &d.block_hash) {
        (Some(height), Some(hash)) => {
            outln!("  block     {height} {hash} ({} confirmations)", d.confirmations)
        }
        _ => outln!("  block     none (not in the active chain)"),
    }
    for t in &d.tags {
        outln!(
            "  tag       {}: {} (by {}, {})",
            t.rule,
            t.detail,
            t.tagged_by,
            at(t.tagged_at)
        );
    }
    for e in &d.history {
        outln!(
            "  {}  {:<12} {:<16} {}",
            at(e.recorded_at),
            e.kind,
            e.actor,
            e.note
        );
    }
    Ok(())
}

/// A KYC status as the API gives it (`status`, `verified_until`).
fn kyc_status(status: &str, verified_until: Option<i64>) -> Result<KycStatus> {
    KycStatus::from_stored(status, verified_until.map(UnixTime::from_secs)).with_context(|| {
        format!("the coordinator API gave an unknown KYC status {status:?} (a different version?)")
    })
}

pub fn kyc(s: &ApiSession, command: &KycCommand) -> Result<()> {
    match command {
        KycCommand::Set {
            customer,
            status,
            until,
            note,
        } => {
            let kyc: CustomerKyc = from_reply(s.api.post(
                "/v1/kyc",
                &json!({ "customer_id": customer, "status": status, "verified_until": until, "note": note }),
            )?)?;
            outln!(
                "Customer {customer}: KYC {}.",
                describe(kyc_status(&kyc.status, kyc.verified_until)?)
            );
        }
        KycCommand::Show { customer } => {
            let kyc: CustomerKyc = from_reply(
                s.api
                    .get(&format!("/v1/kyc?customer={}", encode_component(customer)))?,
            )?;
            let status = kyc_status(&kyc.status, kyc.verified_until)?;
            let standing = match (kyc.standing.as_str(), status.until()) {
                ("expired", Some(at)) => KycStanding::Expired { at }.to_string(),
                (other, _) => other.to_owned(),
            };
            outln!("Customer {customer}: KYC {} (now {standing}).", describe(status));
            for e in &kyc.history {
                outln!(
                    "  {}  {:<28} {:<16} {}",
                    at(e.recorded_at),
                    describe(kyc_status(&e.status, e.verified_until)?),
                    e.actor,
                    e.note
                );
            }
        }
    }
    Ok(())
}

fn describe(status: KycStatus) -> String {
    match status {
        KycStatus::Verified { until: Some(until) } => format!("verified until {until}"),
        KycStatus::Verified { until: None } => "verified (no expiry)".to_owned(),
        other => other.as_str().to_owned(),
    }
}

pub fn blocklist(s: &ApiSession, command: &BlocklistCommand) -> Result<()> {
    match command {
        BlocklistCommand::Import { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the blocklist {}", file.display()))?;
            let source = file.display().to_string();
            let outcome = s
                .api
                .post("/v1/blocklist", &json!({ "source": source, "entries": text }))?;
            let count = |field: &str| outcome[field].as_u64().unwrap_or(0);
            outln!(
                "Blocklist {source}: {} entr(y/ies) added, {} already listed; {} active in all. \
                 Deposits seen from now on that spend from them are tagged.",
                count("added"),
                count("already_listed"),
                count("active")
            );
        }
    }
    Ok(())
}
