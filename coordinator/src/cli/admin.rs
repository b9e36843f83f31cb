//! Admin commands: init, staff, customers, beneficiaries, fees, limits, the admin log.
//! Every change that can move money is proposed here and takes effect when a second admin
//! approves it (`proposal approve`).

use anyhow::{bail, Result};
use clap::{ArgGroup, Args, Subcommand};
use rand::rngs::OsRng;
use serde_json::json;
use sluice_shared::asset::{format_btc, parse_btc, Asset};
use sluice_shared::network::network_name;

use super::output::{from_reply, print_json, print_sorted_json};
use super::proposals::propose;
use super::{ApiSession, Cli};
use crate::api::messages::{AdminLog, BeneficiaryList, CustomerList, StaffList};
use crate::clock;
use crate::rules::fees::FeeSchedule;
use crate::rules::risk::RiskSettings;
use crate::rules::roles::Role;
use crate::service::{Change, Coordinator, EnrollmentSecret};
use crate::staff_client::encode_component;
use crate::staff_client::StaffApi;
use crate::time::UnixTime;
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Propose a new staff member. Once another admin approves, they get an enrollment
    /// secret to hand over; the new member exchanges it for their token (`staff enroll`).
    Add {
        #[arg(long)]
        name: String,
        /// requester, approver or admin.
        #[arg(long)]
        role: Role,
    },
    List,
    /// Propose revoking a staff member's access (their token stops working once approved).
    Deactivate {
        #[arg(long)]
        name: String,
    },
    Activate {
        #[arg(long)]
        name: String,
    },
    /// Propose a new token for a staff member: once approved, the old one stops working and
    /// the approver gets an enrollment secret to hand over.
    RotateToken {
        #[arg(long)]
        name: String,
    },
    /// Exchange your enrollment secret for your token (printed once, only to you). Needs
    /// no token.
    Enroll {
        /// The secret an admin handed you (or SLUICE_ENROLL_SECRET).
        #[arg(
            long,
            env = "SLUICE_ENROLL_SECRET",
            hide_env_values = true,
            value_name = "SECRET"
        )]
        secret: String,
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
    /// Propose an address a customer may withdraw to.
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
    /// Registered destinations: one customer's with --customer, else every customer's.
    List {
        #[arg(long)]
        customer: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeesCommand {
    /// Propose the fee: a flat amount or a percentage in basis points (25 = 0.25%).
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
pub enum RiskCommand {
    /// The risk flag rules in force.
    Show,
    /// Propose the risk flag rules (replacing all of them). Every rule is off unless named
    /// here; --recommended turns all four on with the guide's thresholds.
    Set(RiskSetArgs),
}

#[derive(Debug, Args)]
pub struct RiskSetArgs {
    /// All four rules with the staff guide's thresholds (the other options adjust them).
    #[arg(long)]
    recommended: bool,
    /// Flag the customer's first withdrawal to a destination.
    #[arg(long)]
    new_beneficiary: bool,
    /// Flag amounts above K times the median of the customer's last withdrawals.
    #[arg(long, value_name = "K")]
    large_amount_multiple: Option<u32>,
    /// How many of the customer's last withdrawals the median is taken over.
    #[arg(long, value_name = "N")]
    history_size: Option<u32>,
    /// The fewest earlier withdrawals a median is judged on.
    #[arg(long, value_name = "N")]
    min_history: Option<u32>,
    /// The velocity window in seconds.
    #[arg(long, value_name = "SECONDS")]
    velocity_window: Option<u32>,
    /// Flag more than N withdrawals per customer within the window.
    #[arg(long, value_name = "N")]
    velocity_max_count: Option<u32>,
    /// Flag more than this (BTC) per customer within the window.
    #[arg(long, value_name = "BTC")]
    velocity_max_amount: Option<String>,
    /// Flag destinations another customer registered or withdrew to.
    #[arg(long)]
    shared_destination: bool,
}

impl RiskSetArgs {
    fn settings(&self) -> Result<RiskSettings> {
        let base = if self.recommended {
            RiskSettings::recommended()
        } else {
            RiskSettings {
                history_size: RiskSettings::recommended().history_size,
                min_history: RiskSettings::recommended().min_history,
                velocity_window_secs: RiskSettings::recommended().velocity_window_secs,
                ..RiskSettings::default()
            }
        };
        Ok(RiskSettings {
            new_beneficiary: base.new_beneficiary || self.new_beneficiary,
            large_amount_multiple: self.large_amount_multiple.or(base.large_amount_multiple),
            history_size: self.history_size.unwrap_or(base.history_size),
            min_history: self.min_history.unwrap_or(base.min_history),
            velocity_window_secs: self.velocity_window.unwrap_or(base.velocity_window_secs),
            velocity_max_count: self.velocity_max_count.or(base.velocity_max_count),
            velocity_max_amount: match &self.velocity_max_amount {
                Some(text) => Some(parse_btc(text)?),
                None => base.velocity_max_amount,
            },
            shared_destination: base.shared_destination || self.shared_destination,
        })
    }
}

pub fn risk(s: &ApiSession, command: &RiskCommand, json: bool) -> Result<()> {
    match command {
        RiskCommand::Show => {
            let settings: RiskSettings = from_reply(s.api.get("/v1/risk")?)?;
            if json {
                return print_json(&settings);
            }
            outln!("Risk flags: {}.", settings.describe());
        }
        RiskCommand::Set(args) => propose(
            &s.api,
            &Change::RiskSettings {
                settings: args.settings()?,
            },
        )?,
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Propose a customer's or a wallet's daily limit (UTC day).
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

/// Shows an enrollment secret once, to the admin who hands it over.
pub(super) fn print_enrollment(name: &str, secret: &str) -> Result<()> {
    outln!(
        "Enrollment secret for {name}: give it to {name} alone, over a safe channel. They run \
         `sluice-coordinator staff enroll --secret SECRET` within 3 days to get their token; \
         it works once."
    );
    outln!("{secret}");
    Ok(())
}

pub fn init(cli: &Cli, admins: &[String]) -> Result<()> {
    let Some(network) = cli.network else {
        bail!("init needs --network (bitcoin, testnet, testnet4, signet or regtest)");
    };
    let [first, second] = admins else {
        bail!("init needs two admins (--admin NAME --admin NAME): every change that can move money needs one admin to propose it and another to approve it");
    };
    let (_coord, secrets) = Coordinator::initialise(
        &cli.db,
        network,
        [first.as_str(), second.as_str()],
        &mut OsRng,
        clock::now(),
    )?;
    outln!("Initialised {} for {}.", cli.db.display(), network_name(network));
    for (name, secret) in [first, second].into_iter().zip(&secrets) {
        print_enrollment(name, secret.reveal().as_str())?;
    }
    Ok(())
}

/// `staff enroll`: the holder's own command (`POST /v1/staff/enroll`, the secret in the
/// body is the credential); the token is printed to them alone.
pub fn enroll(cli: &Cli, secret: &str) -> Result<()> {
    // Refuse a malformed secret here, before it travels anywhere.
    let secret = EnrollmentSecret::parse(secret)?;
    let api = StaffApi::new(&cli.api, None)?;
    let reply = api.post(
        "/v1/staff/enroll",
        &serde_json::json!({ "secret": secret.reveal().as_str() }),
    )?;
    let name = reply["staff"].as_str().unwrap_or("");
    let token = Zeroizing::new(reply["token"].as_str().unwrap_or("").to_owned());
    outln!("Your token, {name}. It is shown once: keep it secret (e.g. in a file for --token-file).");
    outln!("{}", token.as_str());
    Ok(())
}

pub fn staff(s: &ApiSession, command: &StaffCommand, json: bool) -> Result<()> {
    let change = match command {
        StaffCommand::Add { name, role } => Change::StaffAdd {
            name: name.clone(),
            role: *role,
        },
        StaffCommand::List => {
            let list: StaffList = from_reply(s.api.get("/v1/staff")?)?;
            if json {
                return print_sorted_json(&list.staff);
            }
            for member in &list.staff {
                outln!(
                    "{:<20} {:<9} {:<8} added {} by {}",
                    member.name,
                    member.role,
                    if member.active { "active" } else { "inactive" },
                    UnixTime::from_secs(member.created_at),
                    member.created_by.as_deref().unwrap_or("init")
                );
            }
            return Ok(());
        }
        StaffCommand::Deactivate { name } => Change::StaffSetActive {
            name: name.clone(),
            active: false,
        },
        StaffCommand::Activate { name } => Change::StaffSetActive {
            name: name.clone(),
            active: true,
        },
        StaffCommand::RotateToken { name } => Change::StaffRotateToken { name: name.clone() },
        StaffCommand::Enroll { .. } => bail!("`staff enroll` needs no token: run it without one"),
    };
    propose(&s.api, &change)
}

pub fn customer(s: &ApiSession, command: &CustomerCommand, json: bool) -> Result<()> {
    match command {
        CustomerCommand::Add { id, daily_limit } => {
            let limit = daily_limit.as_deref().map(parse_btc).transpose()?;
            s.api.post("/v1/customers", &json!({ "customer_id": id }))?;
            match limit {
                Some(limit) => {
                    outln!(
                        "Customer {id} added; its daily limit of {} is a proposal:",
                        format_btc(limit)
                    );
                    propose(
                        &s.api,
                        &Change::CustomerDailyLimit {
                            customer_id: id.clone(),
                            asset: Asset::Btc,
                            daily_limit_sat: limit,
                        },
                    )?;
                }
                None => outln!("Customer {id} added (no customer limit; the wallet's daily limit applies)."),
            }
        }
        CustomerCommand::Suspend { id } => {
            s.api
                .post("/v1/customers/suspend", &json!({ "customer_id": id }))?;
            outln!("Customer {id} suspended.");
        }
        CustomerCommand::Activate { id } => {
            s.api
                .post("/v1/customers/activate", &json!({ "customer_id": id }))?;
            outln!("Customer {id} active.");
        }
        CustomerCommand::List => {
            let list: CustomerList = from_reply(s.api.get("/v1/customers")?)?;
            if json {
                let customers: Vec<_> = list
                    .customers
                    .iter()
                    .map(|c| json!({ "id": c.id, "status": c.status, "created_at": c.created_at }))
                    .collect();
                return print_json(&customers);
            }
            for c in &list.customers {
                outln!(
                    "{:<30} {:<9} KYC {:<10} since {}",
                    c.id,
                    c.status,
                    c.kyc_standing,
                    UnixTime::from_secs(c.created_at)
                );
            }
        }
    }
    Ok(())
}

pub fn beneficiary(s: &ApiSession, command: &BeneficiaryCommand, json: bool) -> Result<()> {
    let change = match command {
        BeneficiaryCommand::Add {
            customer,
            address,
            label,
        } => Change::BeneficiaryAdd {
            customer_id: customer.clone(),
            address: address.clone(),
            label: label.clone(),
        },
        BeneficiaryCommand::Deactivate { customer, address } => Change::BeneficiarySetActive {
            customer_id: customer.clone(),
            address: address.clone(),
            active: false,
        },
        BeneficiaryCommand::Activate { customer, address } => Change::BeneficiarySetActive {
            customer_id: customer.clone(),
            address: address.clone(),
            active: true,
        },
        BeneficiaryCommand::List { customer } => {
            let path = match customer {
                Some(customer) => format!("/v1/beneficiaries?customer={}", encode_component(customer)),
                None => "/v1/beneficiaries".to_owned(),
            };
            let list: BeneficiaryList = from_reply(s.api.get(&path)?)?;
            if json {
                return print_sorted_json(&list.beneficiaries);
            }
            for b in &list.beneficiaries {
                outln!(
                    "{:<16} {:<64} {:<8} {}",
                    b.customer_id,
                    b.address,
                    if b.active { "active" } else { "inactive" },
                    b.label
                );
            }
            return Ok(());
        }
    };
    propose(&s.api, &change)
}

pub fn fees(s: &ApiSession, command: &FeesCommand, json: bool) -> Result<()> {
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
            propose(
                &s.api,
                &Change::FeesSet {
                    asset: *asset,
                    schedule,
                },
            )?;
        }
        FeesCommand::Show { asset } => {
            let reply = s.api.get(&format!(
                "/v1/fees?asset={}",
                encode_component(&asset.to_string())
            ))?;
            if json {
                return print_json(&reply);
            }
            match reply["description"].as_str() {
                Some(description) => outln!("{asset} withdrawal fee: {description}."),
                None => {
                    outln!("No {asset} fee schedule: withdrawals are refused until an admin runs `fees set`.")
                }
            }
        }
    }
    Ok(())
}

pub fn limits(s: &ApiSession, command: &LimitsCommand) -> Result<()> {
    let LimitsCommand::Set(args) = command;
    let limit = parse_btc(&args.daily)?;
    let change = match (&args.customer, &args.wallet) {
        (Some(customer), None) => Change::CustomerDailyLimit {
            customer_id: customer.clone(),
            asset: args.asset,
            daily_limit_sat: limit,
        },
        (None, Some(wallet)) => Change::WalletDailyLimit {
            wallet: wallet.clone(),
            daily_limit_sat: limit,
        },
        _ => bail!("give exactly one of --customer ID or --wallet NAME"),
    };
    propose(&s.api, &change)
}

pub fn log(s: &ApiSession, limit: u32, json: bool) -> Result<()> {
    let log: AdminLog = from_reply(s.api.get(&format!("/v1/admin-log?limit={limit}"))?)?;
    if json {
        return print_sorted_json(&log.events);
    }
    for e in &log.events {
        outln!(
            "{}  {:<12} {:<22} {:<20} {}",
            UnixTime::from_secs(e.recorded_at),
            e.actor,
            e.action,
            e.subject,
            e.details
        );
    }
    Ok(())
}
