//! Admin commands: init, staff, customers, beneficiaries, fees, limits, the admin log.

use anyhow::{bail, Result};
use clap::{ArgGroup, Args, Subcommand};
use rand::rngs::OsRng;
use sluice_shared::asset::{format_btc, parse_btc, Asset};
use sluice_shared::network::network_name;

use super::{Cli, Session};
use crate::clock;
use crate::rules::fees::FeeSchedule;
use crate::rules::intake::CustomerStatus;
use crate::rules::roles::Role;
use crate::service::{ApiToken, Coordinator};

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member and print their token once.
    Add {
        #[arg(long)]
        name: String,
        /// requester, approver or admin.
        #[arg(long)]
        role: Role,
    },
    List,
    /// Revoke a staff member's access (their token stops working at once).
    Deactivate {
        #[arg(long)]
        name: String,
    },
    Activate {
        #[arg(long)]
        name: String,
    },
    /// Issue a new token for a staff member; the old one stops working.
    RotateToken {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Add an active customer, optionally with a daily withdrawal limit.
    Add {
        #[arg(long)]
        id: String,
        /// Daily limit in BTC (UTC day). Without one only the wallet's limit applies.
        #[arg(long, value_name = "BTC")]
        daily_limit: Option<String>,
    },
    /// Stop a customer's withdrawals (new ones are refused, pending ones cannot be approved).
    Suspend {
        #[arg(long)]
        id: String,
    },
    Activate {
        #[arg(long)]
        id: String,
    },
    List,
}

#[derive(Debug, Subcommand)]
pub enum BeneficiaryCommand {
    /// Register an address a customer may withdraw to.
    Add {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        label: String,
    },
    Deactivate {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        address: String,
    },
    Activate {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        address: String,
    },
    List {
        #[arg(long)]
        customer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeesCommand {
    /// Set the fee: a flat amount or a percentage in basis points (25 = 0.25%).
    #[command(group(ArgGroup::new("fee").required(true).args(["flat", "percent_bps"])))]
    Set {
        #[arg(long, default_value = "BTC")]
        asset: Asset,
        #[arg(long, value_name = "BTC")]
        flat: Option<String>,
        #[arg(long, value_name = "BASIS_POINTS")]
        percent_bps: Option<u32>,
    },
    Show {
        #[arg(long, default_value = "BTC")]
        asset: Asset,
    },
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Set a customer's or a wallet's daily limit (UTC day).
    Set(LimitsSetArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["customer", "wallet"])))]
pub struct LimitsSetArgs {
    #[arg(long)]
    customer: Option<String>,
    #[arg(long)]
    wallet: Option<String>,
    /// The limit in BTC.
    #[arg(long, value_name = "BTC")]
    daily: String,
    #[arg(long, default_value = "BTC")]
    asset: Asset,
}

fn print_token(name: &str, role: Role, token: &ApiToken) -> Result<()> {
    outln!("Token for {name} ({role}). It is shown once: give it to {name} over a safe channel now.");
    outln!("{}", token.reveal().as_str());
    Ok(())
}

pub fn init(cli: &Cli, admin: &str) -> Result<()> {
    let Some(network) = cli.network else {
        bail!("init needs --network (bitcoin, testnet, testnet4, signet or regtest)");
    };
    let (_coord, token): (Coordinator, ApiToken) =
        Coordinator::initialise(&cli.db, network, admin, &mut OsRng, clock::now())?;
    outln!("Initialised {} for {}.", cli.db.display(), network_name(network));
    print_token(admin, Role::Admin, &token)?;
    Ok(())
}

pub fn staff(s: &mut Session, command: &StaffCommand) -> Result<()> {
    let now = clock::now();
    match command {
        StaffCommand::Add { name, role } => {
            let token = s.coord.add_staff(&s.actor, name, *role, &mut OsRng, now)?;
            print_token(name, *role, &token)?;
        }
        StaffCommand::List => {
            for member in s.coord.list_staff(&s.actor)? {
                outln!(
                    "{:<20} {:<9} {:<8} added {} by {}",
                    member.name,
                    member.role.as_str(),
                    if member.active { "active" } else { "inactive" },
                    member.created_at,
                    member.created_by.as_deref().unwrap_or("init")
                );
            }
        }
        StaffCommand::Deactivate { name } => {
            s.coord.set_staff_active(&s.actor, name, false, now)?;
            outln!("{name} deactivated: their token no longer works.");
        }
        StaffCommand::Activate { name } => {
            s.coord.set_staff_active(&s.actor, name, true, now)?;
            outln!("{name} reactivated.");
        }
        StaffCommand::RotateToken { name } => {
            let token = s.coord.rotate_staff_token(&s.actor, name, &mut OsRng, now)?;
            let role = s
                .coord
                .list_staff(&s.actor)?
                .into_iter()
                .find(|m| &m.name == name)
                .map_or(Role::Requester, |m| m.role);
            outln!("{name}'s old token no longer works.");
            print_token(name, role, &token)?;
        }
    }
    Ok(())
}

pub fn customer(s: &mut Session, command: &CustomerCommand) -> Result<()> {
    let now = clock::now();
    match command {
        CustomerCommand::Add { id, daily_limit } => {
            let limit = daily_limit.as_deref().map(parse_btc).transpose()?;
            s.coord.add_customer(&s.actor, id, now)?;
            if let Some(limit) = limit {
                s.coord
                    .set_customer_daily_limit(&s.actor, id, Asset::Btc, limit, now)?;
            }
            match limit {
                Some(limit) => outln!("Customer {id} added, daily limit {}.", format_btc(limit)),
                None => outln!("Customer {id} added (no customer limit; the wallet's daily limit applies)."),
            }
        }
        CustomerCommand::Suspend { id } => {
            s.coord
                .set_customer_status(&s.actor, id, CustomerStatus::Suspended, now)?;
            outln!("Customer {id} suspended.");
        }
        CustomerCommand::Activate { id } => {
            s.coord
                .set_customer_status(&s.actor, id, CustomerStatus::Active, now)?;
            outln!("Customer {id} active.");
        }
        CustomerCommand::List => {
            for c in s.coord.list_customers(&s.actor)? {
                outln!("{:<30} {:<9} since {}", c.id, c.status.as_str(), c.created_at);
            }
        }
    }
    Ok(())
}

pub fn beneficiary(s: &mut Session, command: &BeneficiaryCommand) -> Result<()> {
    let now = clock::now();
    match command {
        BeneficiaryCommand::Add {
            customer,
            address,
            label,
        } => {
            let stored = s.coord.add_beneficiary(&s.actor, customer, address, label, now)?;
            outln!("{stored} registered for customer {customer} ({label}).");
        }
        BeneficiaryCommand::Deactivate { customer, address } => {
            s.coord
                .set_beneficiary_active(&s.actor, customer, address, false, now)?;
            outln!("{address} deactivated for customer {customer}.");
        }
        BeneficiaryCommand::Activate { customer, address } => {
            s.coord
                .set_beneficiary_active(&s.actor, customer, address, true, now)?;
            outln!("{address} active for customer {customer}.");
        }
        BeneficiaryCommand::List { customer } => {
            for b in s.coord.list_beneficiaries(&s.actor, customer)? {
                outln!(
                    "{:<64} {:<8} {}",
                    b.address,
                    if b.active { "active" } else { "inactive" },
                    b.label
                );
            }
        }
    }
    Ok(())
}

pub fn fees(s: &mut Session, command: &FeesCommand) -> Result<()> {
    match command {
        FeesCommand::Set {
            asset,
            flat,
            percent_bps,
        } => {
            let schedule = match (flat, percent_bps) {
                (Some(flat), None) => FeeSchedule::Flat(parse_btc(flat)?),
                (None, Some(bps)) => FeeSchedule::Percent { basis_points: *bps },
                _ => bail!("give exactly one of --flat BTC or --percent-bps N"),
            };
            s.coord
                .set_fee_schedule(&s.actor, *asset, schedule, clock::now())?;
            outln!("{asset} withdrawal fee: {}.", schedule.describe());
        }
        FeesCommand::Show { asset } => match s.coord.fee_schedule(*asset)? {
            Some(schedule) => outln!("{asset} withdrawal fee: {}.", schedule.describe()),
            None => {
                outln!("No {asset} fee schedule: withdrawals are refused until an admin runs `fees set`.")
            }
        },
    }
    Ok(())
}

pub fn limits(s: &mut Session, command: &LimitsCommand) -> Result<()> {
    let LimitsCommand::Set(args) = command;
    let limit = parse_btc(&args.daily)?;
    let now = clock::now();
    match (&args.customer, &args.wallet) {
        (Some(customer), None) => {
            s.coord
                .set_customer_daily_limit(&s.actor, customer, args.asset, limit, now)?;
            outln!("Customer {customer}: daily limit {}.", format_btc(limit));
        }
        (None, Some(wallet)) => {
            s.coord.set_wallet_daily_limit(&s.actor, wallet, limit, now)?;
            outln!("Wallet {wallet}: daily limit {}.", format_btc(limit));
        }
        _ => bail!("give exactly one of --customer ID or --wallet NAME"),
    }
    Ok(())
}

pub fn log(s: &mut Session, limit: u32) -> Result<()> {
    for e in s.coord.admin_log(&s.actor, limit)? {
        outln!(
            "{}  {:<12} {:<22} {:<20} {}",
            e.recorded_at,
            e.actor,
            e.action,
            e.subject,
            e.details
        );
    }
    Ok(())
}
