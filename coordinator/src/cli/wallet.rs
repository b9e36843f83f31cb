//! `wallet create | list | address | set-policy`.

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use sluice_shared::asset::{format_btc, parse_btc};

use bitcoin::Amount;
use sluice_shared::api::{BalanceList, CoinList};

use super::output::{from_reply, print_json, print_sorted_json};
use super::proposals::propose;
use super::ApiSession;
use crate::api::messages::{NewReceiveAddress, ReceiveAddress, WalletList};
use crate::rules::policy::ApprovalPolicy;
use crate::service::{Change, CreatedWallet, NewWalletRequest};
use crate::staff_client::encode_component;
use crate::wallet_spec::WalletKindArg;

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Propose a wallet composed from the signers' `[fingerprint/path]xpub` keys (admin).
    /// Prints the descriptor to register on every signer once it is approved.
    Create(CreateArgs),
    List,
    /// Derive and record the next receive address (admin), e.g. to fund the wallet.
    Address {
        #[arg(long)]
        name: String,
    },
    /// Each wallet's balance by coin state: spendable (confirmed, free), unconfirmed,
    /// reserved by a signing session, quarantined.
    Balance,
    /// Propose a new approval policy for a wallet (admin).
    SetPolicy {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// wpkh or wsh-sortedmulti.
    #[arg(long)]
    kind: WalletKindArg,
    /// Signatures needed (wsh-sortedmulti).
    #[arg(long)]
    threshold: Option<u32>,
    /// A signer's key as `sluice-signer xpub` prints it; repeat for each signer.
    #[arg(long = "key", required = true, value_name = "[FP/PATH]XPUB")]
    keys: Vec<String>,
    /// Total withdrawals allowed from this wallet per UTC day, in BTC.
    #[arg(long, value_name = "BTC")]
    daily_limit: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApprovalKind {
    /// --approvers people must approve.
    Manual,
    /// Approved automatically up to --auto-max; anything larger is refused.
    Auto,
    /// Automatic up to --auto-max, --approvers people above it.
    Both,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[arg(long, value_enum)]
    approval: ApprovalKind,
    /// Distinct approvers needed (manual, both).
    #[arg(long)]
    approvers: Option<u32>,
    /// The automatic-approval ceiling in BTC (auto, both).
    #[arg(long, value_name = "BTC")]
    auto_max: Option<String>,
    /// Let the automatic rule apply without re-checking that the destination is an
    /// active registered beneficiary (intake requires one anyway).
    #[arg(long)]
    any_destination: bool,
}

impl PolicyArgs {
    fn policy(&self) -> Result<ApprovalPolicy> {
        let registered_destination_only = !self.any_destination;
        let ceiling = || -> Result<_> {
            match &self.auto_max {
                Some(text) => Ok(parse_btc(text)?),
                None => bail!("--approval {:?} needs --auto-max BTC", self.approval),
            }
        };
        let approvers = || -> Result<u32> {
            match self.approvers {
                Some(m) => Ok(m),
                None => bail!("--approval {:?} needs --approvers M", self.approval),
            }
        };
        Ok(match self.approval {
            ApprovalKind::Manual => {
                if self.auto_max.is_some() {
                    bail!("--auto-max applies to --approval auto or both");
                }
                ApprovalPolicy::Manual {
                    approvers_required: approvers()?,
                }
            }
            ApprovalKind::Auto => {
                if self.approvers.is_some() {
                    bail!("--approvers applies to --approval manual or both");
                }
                ApprovalPolicy::Auto {
                    max_amount_sat: ceiling()?,
                    registered_destination_only,
                }
            }
            ApprovalKind::Both => ApprovalPolicy::Both {
                max_amount_sat: ceiling()?,
                registered_destination_only,
                approvers_required: approvers()?,
            },
        })
    }
}

pub fn wallet(s: &ApiSession, command: &WalletCommand, json: bool) -> Result<()> {
    match command {
        WalletCommand::Balance => {
            let list: BalanceList = from_reply(s.api.get("/v1/balances")?)?;
            if json {
                return print_json(&list);
            }
            outln!(
                "{:<16} {:>18} {:>18} {:>18} {:>18} {:>6}",
                "wallet",
                "spendable",
                "unconfirmed",
                "reserved",
                "quarantined",
                "coins"
            );
            for b in &list.wallets {
                outln!(
                    "{:<16} {:>18} {:>18} {:>18} {:>18} {:>6}",
                    b.wallet,
                    format_btc(b.spendable_sat),
                    format_btc(b.unconfirmed_sat),
                    format_btc(b.reserved_sat),
                    format_btc(b.quarantined_sat),
                    b.coins
                );
            }
        }
        WalletCommand::Create(args) => {
            let request = NewWalletRequest {
                name: args.name.clone(),
                kind: args.kind,
                threshold: args.threshold,
                keys: args.keys.clone(),
                policy: args.policy.policy()?,
                daily_limit: parse_btc(&args.daily_limit)?,
            };
            propose(&s.api, &Change::WalletCreate(request))?;
        }
        WalletCommand::List => {
            let list: WalletList = from_reply(s.api.get("/v1/wallets")?)?;
            if json {
                return print_sorted_json(&list.wallets);
            }
            for w in &list.wallets {
                outln!(
                    "{:<16} {:<24} id {}  limit {}/day  next receive #{}  {}",
                    w.name,
                    w.kind,
                    w.wallet_id,
                    format_btc(Amount::from_sat(w.daily_limit_sat)),
                    w.next_receive_index,
                    w.policy
                );
            }
        }
        WalletCommand::Address { name } => {
            let request = NewReceiveAddress { wallet: name.clone() };
            let issued: ReceiveAddress = from_reply(
                s.api
                    .post("/v1/receive-addresses", &serde_json::to_value(&request)?)?,
            )?;
            if json {
                print_sorted_json(&issued)?;
            } else {
                outln!("Receive address #{} of wallet {}:", issued.index, issued.wallet);
                outln!("{}", issued.address);
            }
        }
        WalletCommand::SetPolicy { name, policy } => {
            let change = Change::WalletPolicy {
                wallet: name.clone(),
                policy: policy.policy()?,
            };
            propose(&s.api, &change)?;
        }
    }
    Ok(())
}

/// A wallet's descriptors, to register on every signer (the multipath descriptor last).
pub(super) fn print_created_wallet(created: &CreatedWallet) -> Result<()> {
    outln!(
        "Wallet {} ({}), id {}.",
        created.name,
        created.kind,
        created.wallet_id
    );
    outln!("Register this descriptor on every signer of the wallet:");
    outln!(
        "  sluice-signer wallet register --name {} --descriptor '{}'",
        created.name,
        created.multipath_descriptor
    );
    outln!();
    outln!("receive: {}", created.receive_descriptor);
    outln!("change:  {}", created.change_descriptor);
    outln!("{}", created.multipath_descriptor);
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum CoinCommand {
    /// The wallets' coins, unspent ones unless --spent.
    List {
        /// Only this wallet's.
        #[arg(long)]
        wallet: Option<String>,
        /// Spent coins too.
        #[arg(long)]
        spent: bool,
    },
}

pub fn coin(s: &ApiSession, command: &CoinCommand, json: bool) -> Result<()> {
    let CoinCommand::List { wallet, spent } = command;
    let mut path = format!("/v1/coins?spent={spent}");
    if let Some(wallet) = wallet {
        path.push_str(&format!("&wallet={}", encode_component(wallet)));
    }
    let list: CoinList = from_reply(s.api.get(&path)?)?;
    if json {
        return print_json(&list);
    }
    if list.coins.is_empty() {
        outln!("No coins.");
    }
    for c in &list.coins {
        let state = serde_json::to_value(c.state)?;
        outln!(
            "{:<16} {}:{:<4} {:>18} {:<12} {}",
            c.wallet,
            c.txid,
            c.vout,
            format_btc(c.amount_sat),
            state.as_str().unwrap_or("?"),
            c.block_height
                .map(|h| format!("block {h}"))
                .unwrap_or_else(|| "mempool".to_owned())
        );
    }
    Ok(())
}
