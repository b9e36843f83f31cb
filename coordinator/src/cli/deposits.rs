//! Deposit and compliance commands: `deposit` (wallets, addresses, the ledger, manual
//! tags), `kyc` (customers' KYC status) and `blocklist import`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sluice_shared::asset::{format_btc, parse_btc};
use sluice_shared::deposit_api::{DepositAddressList, DepositList, UnconfirmedDepositList};

use super::output::print_json;
use super::proposals::propose;
use super::Session;
use crate::clock;
use crate::rules::deposits::{AddressPolicy, DepositSettings, DepositStatus};
use crate::rules::kyc::KycStatus;
use crate::service::{
    address_to_api, kyc_status_from_words, unconfirmed_to_api, Change, ResolutionAction, MAX_DEPOSIT_LISTING,
};

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

pub fn deposit(s: &mut Session, command: &DepositCommand, json: bool) -> Result<()> {
    let now = clock::now();
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
                    let wallets = s.coord.deposit_wallets(&s.actor)?;
                    match wallets.as_slice() {
                        [only] => only.wallet.clone(),
                        [] => anyhow::bail!(
                            "there is no deposit wallet: an admin marks one with `deposit wallet`"
                        ),
                        _ => anyhow::bail!("there are several deposit wallets: name one with --wallet"),
                    }
                }
            };
            let issued = s.coord.issue_deposit_address(&s.actor, &wallet, customer, now)?;
            if json {
                print_json(&address_to_api(&issued))?;
            } else {
                outln!("{}", issued.address);
                outln!(
                    "(wallet {}, index {}, customer {customer})",
                    issued.wallet,
                    issued.index
                );
            }
        }
        DepositCommand::Addresses { wallet, customer } => {
            let list = s
                .coord
                .deposit_addresses(&s.actor, wallet.as_deref(), customer.as_deref())?;
            if json {
                print_json(&DepositAddressList {
                    addresses: list.iter().map(address_to_api).collect(),
                })?;
            } else {
                for a in &list {
                    outln!(
                        "{:<12} {:>6} {:<64} {}",
                        a.wallet,
                        a.index,
                        a.address,
                        a.customer.as_deref().unwrap_or("(issued to no one)")
                    );
                }
            }
        }
        DepositCommand::List {
            status,
            customer,
            limit,
        } => {
            let list = s.coord.deposits(
                &s.actor,
                *status,
                customer.as_deref(),
                (*limit).min(MAX_DEPOSIT_LISTING),
            )?;
            if json {
                print_json(&DepositList {
                    deposits: list.iter().map(|d| d.to_api()).collect(),
                })?;
            } else {
                for d in &list {
                    let r = &d.deposit;
                    outln!(
                        "{:>5} {:<10} {:>16} {:>3} conf  {}  customer {}",
                        r.id,
                        r.status.as_str(),
                        format_btc(r.amount),
                        d.confirmations,
                        r.outpoint,
                        r.customer.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        DepositCommand::Unconfirmed { customer } => {
            let list = s.coord.unconfirmed_deposits(&s.actor, customer.as_deref())?;
            if json {
                print_json(&UnconfirmedDepositList {
                    deposits: list.iter().map(unconfirmed_to_api).collect(),
                })?;
            } else {
                for d in &list {
                    outln!(
                        "unconfirmed {:>16}  {}  {}  customer {}",
                        format_btc(d.amount),
                        d.outpoint,
                        d.address,
                        d.customer.as_deref().unwrap_or("- (issued to no one)")
                    );
                }
            }
        }
        DepositCommand::Show { id } => {
            let d = s.coord.deposit(&s.actor, *id)?;
            if json {
                print_json(&d.to_api())?;
            } else {
                let r = &d.deposit;
                outln!("Deposit {}: {} {}", r.id, r.status, format_btc(r.amount));
                outln!("  outpoint  {}", r.outpoint);
                outln!(
                    "  address   {} (wallet {}, index {})",
                    r.address,
                    r.wallet,
                    r.index
                );
                outln!(
                    "  customer  {}",
                    r.customer.as_deref().unwrap_or("(issued to no one)")
                );
                match r.block {
                    Some((height, hash)) => {
                        outln!("  block     {height} {hash} ({} confirmations)", d.confirmations)
                    }
                    None => outln!("  block     none (not in the active chain)"),
                }
                for t in &d.tags {
                    outln!(
                        "  tag       {}: {} (by {}, {})",
                        t.rule,
                        t.detail,
                        t.tagged_by,
                        t.tagged_at
                    );
                }
                for e in &d.events {
                    outln!("  {}  {:<12} {:<16} {}", e.recorded_at, e.kind, e.actor, e.note);
                }
            }
        }
        DepositCommand::Tag { id, reason } => {
            s.coord.tag_deposit(&s.actor, *id, reason, now)?;
            outln!("Deposit {id} tagged: quarantined, never credited, never spent with other coins.");
        }
        DepositCommand::Resolve {
            id,
            action,
            to,
            reason,
        } => {
            let r = s
                .coord
                .propose_resolution(&s.actor, *id, *action, to, reason, now)?;
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
            let r = s.coord.decide_resolution(&s.actor, *id, approve, note, now)?;
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
            for r in s.coord.resolutions(&s.actor, *deposit)? {
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
                        .map(|by| format!(", decided by {by}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

pub fn kyc(s: &mut Session, command: &KycCommand) -> Result<()> {
    match command {
        KycCommand::Set {
            customer,
            status,
            until,
            note,
        } => {
            let status = kyc_status_from_words(status, until.as_deref())?;
            s.coord.set_kyc(&s.actor, customer, status, note, clock::now())?;
            outln!("Customer {customer}: KYC {}.", describe(status));
        }
        KycCommand::Show { customer } => {
            let kyc = s.coord.customer_kyc(&s.actor, customer)?;
            outln!(
                "Customer {customer}: KYC {} (now {}).",
                describe(kyc.status),
                kyc.status.standing(clock::now())
            );
            for e in &kyc.history {
                outln!(
                    "  {}  {:<28} {:<16} {}",
                    e.recorded_at,
                    describe(e.status),
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

pub fn blocklist(s: &mut Session, command: &BlocklistCommand) -> Result<()> {
    match command {
        BlocklistCommand::Import { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the blocklist {}", file.display()))?;
            let source = file.display().to_string();
            let outcome = s.coord.import_blocklist(&s.actor, &text, &source, clock::now())?;
            outln!(
                "Blocklist {source}: {} entr(y/ies) added, {} already listed; {} active in all. \
                 Deposits seen from now on that spend from them are tagged.",
                outcome.added,
                outcome.already_listed,
                outcome.active
            );
        }
    }
    Ok(())
}
