//! `sluice-coordinator`'s command line. Staff commands are requests to the staff API
//! (`--api`, `SLUICE_API`) made with the token of the staff member running them
//! (`--token`, `SLUICE_TOKEN` or `--token-file`), so the API's authentication, roles and
//! rules apply and the command never opens the database. Host-local operations (`init`,
//! `run`, `backup`, `restore`, `identity`, `audit verify`/`audit head`) read the
//! database and key files on the coordinator's host directly.

/// `println!` that returns an error instead of panicking when stdout is closed (e.g.
/// piped into `head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

mod admin;
mod audit;
mod deposits;
mod identity;
mod output;
mod proposals;
mod run_config;
mod signing;
mod wallet;
mod withdrawals;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bitcoin::Network;
use clap::{Args, Parser, Subcommand};
use sluice_shared::network::parse_network;
use zeroize::Zeroizing;

use crate::run::Component;
use crate::service::{ApiToken, Coordinator};
use crate::staff_client::StaffApi;

#[derive(Debug, Parser)]
#[command(
    name = "sluice-coordinator",
    version,
    about = "Sluice coordinator: withdrawal intake, approval and processing"
)]
pub struct Cli {
    /// The coordinator's SQLite database.
    #[arg(
        long,
        global = true,
        env = "SLUICE_DB",
        default_value = "./sluice-coordinator.sqlite",
        value_name = "PATH"
    )]
    pub db: PathBuf,
    /// The Bitcoin network (required by `init`; elsewhere checked against the database).
    #[arg(long, global = true, value_name = "NET", value_parser = parse_network_arg)]
    pub network: Option<Network>,
    /// The coordinator's staff API, where staff commands are sent (`run api --listen`).
    #[arg(
        long,
        global = true,
        env = "SLUICE_API",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub api: String,
    /// Your staff token. Prefer SLUICE_TOKEN or --token-file: arguments are visible to
    /// other users of the machine.
    #[arg(
        long,
        global = true,
        env = "SLUICE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Read your staff token from this file (takes precedence over --token and SLUICE_TOKEN).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Print results as JSON (every command that prints data: lists, shows, history,
    /// withdrawals, proposals, the audit log).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
    /// The arguments given on the command line or by environment variable (not
    /// defaults), so that `run --config` knows which file values they override.
    #[arg(skip)]
    pub explicit: std::collections::BTreeSet<String>,
}

fn parse_network_arg(text: &str) -> Result<Network, String> {
    parse_network(text).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database for --network with its first two admins (every change that can
    /// move money needs two). Prints each admin's enrollment secret once.
    Init {
        /// An admin's name; give exactly two.
        #[arg(long = "admin", required = true, num_args = 1, action = clap::ArgAction::Append)]
        admins: Vec<String>,
    },
    /// The coordinator's identity key, which online signers are given at setup.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// The tamper-evident audit log: verify it, export its head, show entries.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Staff members and their tokens (admin; `staff enroll` for anyone with a secret).
    #[command(subcommand)]
    Staff(admin::StaffCommand),
    /// Customers (admin).
    #[command(subcommand)]
    Customer(admin::CustomerCommand),
    /// Customers' registered destination addresses (admin).
    #[command(subcommand)]
    Beneficiary(admin::BeneficiaryCommand),
    /// The withdrawal fee charged to customers (admin).
    #[command(subcommand)]
    Fees(admin::FeesCommand),
    /// Daily withdrawal limits per customer or wallet (admin).
    #[command(subcommand)]
    Limits(admin::LimitsCommand),
    /// Risk flags on untypical withdrawals: show the rules, propose new ones (admin).
    #[command(subcommand)]
    Risk(admin::RiskCommand),
    /// Wallets composed from signers' keys, and their balances.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// The wallets' coins.
    #[command(subcommand)]
    Coin(wallet::CoinCommand),
    /// Signers: register their identity keys, list, cut off (admin).
    #[command(subcommand)]
    Signer(signing::SignerCommand),
    /// Signing sessions: export one for an offline signer, import its signatures.
    #[command(subcommand)]
    Session(signing::SessionCommand),
    /// Request a withdrawal (requester).
    Withdraw(withdrawals::WithdrawArgs),
    /// Approve a pending withdrawal (approver; not your own).
    Approve { id: u64 },
    /// Reject a pending withdrawal for good (approver).
    Reject {
        id: u64,
        /// Why, for the requester and auditors.
        #[arg(long)]
        reason: String,
    },
    /// Cancel an approved withdrawal that no transaction pays yet; it ends `failed`
    /// (approver).
    Cancel {
        id: u64,
        /// Why, for the requester and auditors.
        #[arg(long)]
        reason: String,
    },
    /// List withdrawals, newest first.
    List(withdrawals::ListArgs),
    /// Show one withdrawal with its approvals and history.
    Show { id: u64 },
    /// Proposed configuration changes: list, show, approve or reject (admin).
    #[command(subcommand)]
    Proposal(proposals::ProposalCommand),
    /// The admin log: who changed which configuration (admin).
    Log {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Deposit wallets, deposit addresses, the deposit ledger, manual tags.
    #[command(subcommand)]
    Deposit(deposits::DepositCommand),
    /// Customers' KYC status (compliance).
    #[command(subcommand)]
    Kyc(deposits::KycCommand),
    /// The compliance blocklist of illicit sources (compliance).
    #[command(subcommand)]
    Blocklist(deposits::BlocklistCommand),
    /// Back up the coordinator (database snapshot, audit, identity and onion keys) into
    /// one file encrypted and authenticated under a passphrase. Safe while services run.
    Backup {
        /// Where to write the backup (must not exist; written 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// A file whose first line is the backup passphrase (12+ characters, mixed).
        #[arg(long, value_name = "FILE", env = "SLUICE_BACKUP_PASSPHRASE_FILE")]
        passphrase_file: PathBuf,
    },
    /// Check a backup completely (passphrase, integrity, schema, audit chain), then write
    /// it into a new, empty home directory. Never overwrites anything.
    Restore {
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// The new home: the database is written there as sluice-coordinator.sqlite.
        #[arg(long, value_name = "DIR")]
        home: PathBuf,
        #[arg(long, value_name = "FILE", env = "SLUICE_BACKUP_PASSPHRASE_FILE")]
        passphrase_file: PathBuf,
    },
    /// After a restore: let the processor batch again, once every approved, batched and
    /// signing withdrawal was checked against the chain (admin).
    RestoreRelease {
        /// What was checked, for the admin log.
        #[arg(long)]
        note: String,
    },
    /// Webhooks: the delivery log (every attempt to every endpoint).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Run a coordinator service until stopped (Ctrl-C or SIGTERM).
    Run(Box<RunArgs>),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// The newest delivery attempts, newest first.
    Deliveries {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn webhook(s: &ApiSession, command: &WebhookCommand, json: bool) -> Result<()> {
    let WebhookCommand::Deliveries { limit } = command;
    let reply: crate::api::messages::WebhookDeliveries =
        output::from_reply(s.api.get(&format!("/v1/webhook-deliveries?limit={limit}"))?)?;
    let deliveries = reply.deliveries;
    if json {
        return output::print_json(&deliveries);
    }
    if deliveries.is_empty() {
        outln!("No delivery attempts yet.");
    }
    for d in &deliveries {
        outln!(
            "{}  {} #{:<3} {:<8} {:<20} {}  {}",
            crate::time::UnixTime::from_secs(d.attempted_at_ms / 1000),
            d.event_id,
            d.attempt,
            if d.delivered { "ok" } else { "failed" },
            d.kind,
            d.endpoint,
            d.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// api, processor, sender, monitor, webhooks, or all (or `component` in --config).
    #[arg(required_unless_present = "config")]
    pub component: Option<Component>,
    /// Read these options (and db, network) from a TOML file, keys named as the flags
    /// without dashes (`fee-rate = 5`); flags and environment variables win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the API listens (api and all).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Api: also publish the signer API (never the staff API) as a Tor onion service
    /// that only registered, active signers with a restricted-discovery key can discover
    /// (stealth mode). Its key is `<db>.onion-key`, arti's state `<db>.tor/`.
    #[arg(long)]
    pub onion: bool,
    /// With --onion: join the private test network this file describes instead of the
    /// public Tor network (tests and `sluice-devnet --tor` only).
    #[arg(long, value_name = "FILE", requires = "onion")]
    pub tor_network: Option<PathBuf>,
    /// With --onion: the passphrase (first line of FILE, e.g. a systemd credential) that
    /// seals the onion identity key at rest.
    #[arg(
        long,
        value_name = "FILE",
        env = "SLUICE_ONION_PASSPHRASE_FILE",
        requires = "onion"
    )]
    pub onion_passphrase_file: Option<PathBuf>,
    /// Api: also serve the web console here (its own listener). Plain HTTP only on a
    /// loopback address; anywhere else give --console-cert and --console-key (TLS).
    #[arg(long, value_name = "ADDR")]
    pub console_listen: Option<String>,
    /// With --console-listen: the console's TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["console_listen", "console_key"])]
    pub console_cert: Option<PathBuf>,
    /// With --console-listen: the console's TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["console_listen", "console_cert"])]
    pub console_key: Option<PathBuf>,
    /// Processor: network fee rate in sat/vB.
    #[arg(long, default_value_t = 2)]
    pub fee_rate: u64,
    /// Processor: most withdrawals per transaction.
    #[arg(long, default_value_t = 100)]
    pub max_batch: usize,
    /// Processor: most coins per transaction.
    #[arg(long, default_value_t = 200)]
    pub max_inputs: usize,
    /// Processor: refuse to build a transaction whose network fee exceeds this (BTC).
    #[arg(long, default_value = "0.01", value_name = "BTC")]
    pub max_fee: String,
    /// Processor: pause between passes when idle, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Processor: how long approved withdrawals that do not fill --max-batch are held for
    /// more to come before a transaction pays them, in milliseconds (0: at once). Under
    /// load this fills batches instead of making many small transactions.
    #[arg(long, default_value_t = 200)]
    pub batch_wait_ms: u64,
    /// Processor: this instance's name in withdrawal histories (default processor-PID).
    #[arg(long)]
    pub instance: Option<String>,
    /// Sender and monitor: the Bitcoin Core JSON-RPC (or simnet) URL, http://HOST:PORT.
    /// Credentials may be written into it (http://USER:PASSWORD@HOST:PORT) but are then
    /// visible to other users of the machine: prefer --rpc-cookie-file.
    #[arg(long, value_name = "URL", env = "SLUICE_CHAIN_URL")]
    pub chain_url: Option<String>,
    /// Bitcoin Core's `.cookie` file (re-read on every call, so a restarted node works).
    #[arg(long, value_name = "FILE", conflicts_with = "rpc_user")]
    pub rpc_cookie_file: Option<PathBuf>,
    /// The RPC user set with `rpcauth` (or `rpcuser`) in the node's bitcoin.conf; the
    /// password comes from --rpc-password-file.
    #[arg(long, value_name = "USER", requires = "rpc_password_file")]
    pub rpc_user: Option<String>,
    /// A file whose first line is the RPC password of --rpc-user.
    #[arg(long, value_name = "FILE", requires = "rpc_user")]
    pub rpc_password_file: Option<PathBuf>,
    /// Monitor: confirmations after which a withdrawal is `confirmed`.
    #[arg(long, default_value_t = 1)]
    pub min_confirmations: u32,
    /// Sender: send an unconfirmed transaction again after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub resend_seconds: u64,
    /// Monitor: the first block height to read when it has read none (e.g. the wallets'
    /// birth height on mainnet).
    #[arg(long, default_value_t = 0)]
    pub start_height: u32,
    /// Webhooks: a receiver's http:// URL; repeat for several, each with its
    /// --webhook-secret-file in the same order.
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// Webhooks: a file whose first line is the receiver's HMAC secret (16 bytes or more).
    #[arg(long = "webhook-secret-file", value_name = "FILE")]
    pub webhook_secret_files: Vec<PathBuf>,
    /// Webhooks: the first retry after a failed delivery waits this long (doubling after
    /// each further failure, at most an hour).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub webhook_retry_ms: u64,
}

impl RunArgs {
    fn rpc_auth(&self) -> Result<crate::chain::RpcAuth> {
        use crate::chain::RpcAuth;
        Ok(
            match (&self.rpc_cookie_file, &self.rpc_user, &self.rpc_password_file) {
                (Some(file), _, _) => RpcAuth::cookie_file(file),
                (None, Some(user), Some(file)) => RpcAuth::user_password_file(user, file)?,
                _ => RpcAuth::None,
            },
        )
    }

    fn options(&self) -> Result<crate::run::RunOptions> {
        if self.fee_rate == 0 || self.max_batch == 0 || self.max_inputs == 0 {
            bail!("--fee-rate, --max-batch and --max-inputs must be at least 1");
        }
        Ok(crate::run::RunOptions {
            listen: self.listen.clone(),
            onion: match (self.onion, &self.onion_passphrase_file) {
                (false, _) => None,
                (true, None) => bail!(
                    "--onion needs --onion-passphrase-file FILE (or SLUICE_ONION_PASSPHRASE_FILE): the onion identity key is kept sealed under that passphrase"
                ),
                (true, Some(passphrase_file)) => Some(crate::run::OnionOptions {
                    network_file: self.tor_network.clone(),
                    passphrase_file: passphrase_file.clone(),
                }),
            },
            console: match &self.console_listen {
                None => None,
                Some(listen) => Some(crate::run::ConsoleOptions {
                    listen: listen.clone(),
                    tls: match (&self.console_cert, &self.console_key) {
                        (Some(cert), Some(key)) => Some(crate::console::TlsFiles {
                            cert: cert.clone(),
                            key: key.clone(),
                        }),
                        (None, None) => None,
                        _ => bail!("--console-cert and --console-key go together"),
                    },
                }),
            },
            processor: crate::service::ProcessorConfig {
                sat_per_vbyte: self.fee_rate,
                max_batch: self.max_batch,
                max_inputs: self.max_inputs,
                max_fee: sluice_shared::asset::parse_btc(&self.max_fee)?,
                instance: self
                    .instance
                    .clone()
                    .unwrap_or_else(|| format!("processor-{}", std::process::id())),
            },
            interval: std::time::Duration::from_millis(self.interval_ms),
            batch_wait: std::time::Duration::from_millis(self.batch_wait_ms),
            chain: match &self.chain_url {
                Some(url) => Some(crate::run::ChainOptions {
                    url: url.clone(),
                    auth: self.rpc_auth()?,
                }),
                None => None,
            },
            min_confirmations: self.min_confirmations.max(1),
            resend_after: std::time::Duration::from_secs(self.resend_seconds.max(1)),
            start_height: self.start_height,
            webhooks: self.webhook_endpoints()?,
            webhook_retry: std::time::Duration::from_millis(self.webhook_retry_ms.max(1)),
        })
    }

    fn webhook_endpoints(&self) -> Result<Vec<crate::webhook::WebhookEndpoint>> {
        if self.webhooks.len() != self.webhook_secret_files.len() {
            bail!(
                "give one --webhook-secret-file per --webhook, in the same order ({} URL(s), {} secret file(s))",
                self.webhooks.len(),
                self.webhook_secret_files.len()
            );
        }
        self.webhooks
            .iter()
            .zip(&self.webhook_secret_files)
            .map(|(url, file)| {
                let text = Zeroizing::new(
                    std::fs::read_to_string(file)
                        .with_context(|| format!("reading the webhook secret file {}", file.display()))?,
                );
                let secret = Zeroizing::new(text.lines().next().unwrap_or("").trim().as_bytes().to_vec());
                crate::webhook::WebhookEndpoint::new(url, secret).with_context(|| format!("webhook {url}"))
            })
            .collect()
    }
}

/// Parses `args` (the program name first) and runs them: what `main.rs` calls.
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = Cli::command().get_matches_from(args);
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.explicit = run_config::explicit_arguments(&matches);
    main(cli)
}

/// Runs the parsed command line; errors are printed with their causes.
pub fn main(cli: Cli) -> ExitCode {
    let json = cli.json;
    match dispatch(cli) {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
                == Some(std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = error_code(&e);
            if json {
                // The same envelope as the API's, on stdout where the data would have been.
                let body = serde_json::json!({"error": {"code": code, "message": format!("{e:#}")}});
                println!("{body}");
            }
            eprintln!("error [{code}]: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The stable code of a failure, as the API would give it: the service's own code, else
/// `internal` for the database and `command_failed` for anything the CLI itself refused
/// (arguments, files).
fn error_code(e: &anyhow::Error) -> String {
    e.chain()
        .find_map(|cause| {
            if let Some(api) = cause.downcast_ref::<crate::staff_client::StaffApiError>() {
                Some(api.code().to_owned())
            } else if let Some(service) = cause.downcast_ref::<crate::service::ServiceError>() {
                Some(service.code().to_owned())
            } else if cause.downcast_ref::<crate::db::DbError>().is_some() {
                Some("internal".to_owned())
            } else {
                None
            }
        })
        .unwrap_or_else(|| "command_failed".to_owned())
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let api = || ApiSession::open(&cli);
    let json = cli.json;
    match &cli.command {
        Command::Init { admins } => {
            // The identity first, so the admins' enrollment secrets stay the last lines printed.
            if cli.network.is_some() && !cli.db.exists() {
                identity::create_at_init(&cli)?;
            }
            admin::init(&cli, admins)?;
        }
        Command::Identity(c) => identity::identity(&cli, c)?,
        Command::Audit(c) => return audit::audit(&cli, c),
        Command::Staff(admin::StaffCommand::Enroll { secret }) => admin::enroll(&cli, secret)?,
        Command::Run(args) => return run(&cli, args),
        Command::Backup { out, passphrase_file } => backup(&cli, out, passphrase_file)?,
        Command::Restore {
            input,
            home,
            passphrase_file,
        } => restore(input, home, passphrase_file, json)?,
        Command::Staff(c) => admin::staff(&api()?, c, json)?,
        Command::Customer(c) => admin::customer(&api()?, c, json)?,
        Command::Beneficiary(c) => admin::beneficiary(&api()?, c, json)?,
        Command::Fees(c) => admin::fees(&api()?, c, json)?,
        Command::Limits(c) => admin::limits(&api()?, c)?,
        Command::Risk(c) => admin::risk(&api()?, c, json)?,
        Command::Log { limit } => admin::log(&api()?, *limit, json)?,
        Command::Proposal(c) => proposals::proposal(&api()?, c, json)?,
        Command::Wallet(c) => wallet::wallet(&api()?, c, json)?,
        Command::Coin(c) => wallet::coin(&api()?, c, json)?,
        Command::Signer(c) => signing::signer(&api()?, c, json)?,
        Command::Session(c) => signing::session(&api()?, c, json)?,
        Command::Withdraw(args) => withdrawals::withdraw(&api()?, args, json)?,
        Command::Approve { id } => withdrawals::approve(&api()?, *id, json)?,
        Command::Reject { id, reason } => withdrawals::reject(&api()?, *id, reason, json)?,
        Command::Cancel { id, reason } => withdrawals::cancel(&api()?, *id, reason, json)?,
        Command::List(args) => withdrawals::list(&api()?, args, json)?,
        Command::Show { id } => withdrawals::show(&api()?, *id, json)?,
        Command::Deposit(c) => deposits::deposit(&api()?, c, json)?,
        Command::Kyc(c) => deposits::kyc(&api()?, c)?,
        Command::Blocklist(c) => deposits::blocklist(&api()?, c)?,
        Command::Webhook(c) => webhook(&api()?, c, json)?,
        Command::RestoreRelease { note } => {
            let reply: crate::api::messages::RestoreReleased = output::from_reply(
                api()?
                    .api
                    .post("/v1/restore-release", &serde_json::json!({ "note": note }))?,
            )?;
            if reply.released {
                outln!("The processor may batch again (recorded in the admin log).");
            } else {
                outln!("No restore hold: nothing to release.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn backup_passphrase(file: &Path) -> Result<secrecy::SecretString> {
    let line = sluice_fsutil::read_secret_line(file)?;
    Ok(secrecy::SecretString::from(line.as_str().to_owned()))
}

/// `backup --out FILE`: reads the database file and keys directly (an operator on the
/// coordinator's host, like `init`), no staff token.
fn backup(cli: &Cli, out: &Path, passphrase_file: &Path) -> Result<()> {
    let passphrase = backup_passphrase(passphrase_file)?;
    sluice_shared::keystore_policy::check_new_passphrase(&passphrase)?;
    let summary = crate::backup::create(
        &cli.db,
        cli.network,
        out,
        &passphrase,
        sluice_shared::keystore::KdfParams::RECOMMENDED,
    )?;
    if cli.json {
        return output::print_json(&serde_json::json!({
            "out": out.display().to_string(),
            "network": sluice_shared::network::network_name(summary.network),
            "schema_version": summary.schema_version,
            "audit_entries": summary.audit_entries,
            "files": summary.files,
            "bytes": summary.bytes,
        }));
    }
    outln!(
        "Backed up {} ({}, schema {}, {} audit entries; {}) into {} ({} bytes, 0600).",
        cli.db.display(),
        sluice_shared::network::network_name(summary.network),
        summary.schema_version,
        summary.audit_entries,
        summary.files.join(", "),
        out.display(),
        summary.bytes
    );
    outln!("Keep it and its passphrase apart; `sluice-coordinator restore --in FILE --home DIR` checks and restores it.");
    Ok(())
}

fn restore(input: &Path, home: &Path, passphrase_file: &Path, json: bool) -> Result<()> {
    let passphrase = backup_passphrase(passphrase_file)?;
    let summary = crate::backup::restore(input, home, &passphrase)?;
    if json {
        return output::print_json(&serde_json::json!({
            "db": summary.db.display().to_string(),
            "network": sluice_shared::network::network_name(summary.network),
            "audit_entries": summary.audit_entries,
            "files": summary.files,
        }));
    }
    outln!(
        "Checked (passphrase, SQLite integrity, schema, triggers, {} audit entries) and restored into {}:",
        summary.audit_entries,
        home.display()
    );
    for file in &summary.files {
        outln!("  {file}");
    }
    outln!(
        "Start the services with --db {} (network {}). The processor batches nothing until an admin has checked every approved, batched and signing withdrawal against the chain (transactions made after the backup are unknown here) and run `restore-release --note ...`.",
        summary.db.display(),
        sluice_shared::network::network_name(summary.network)
    );
    Ok(())
}

/// `run`, with the options of --config filled in.
fn run(cli: &Cli, args: &RunArgs) -> Result<ExitCode> {
    let (mut db, mut network, mut args) = (cli.db.clone(), cli.network, args.clone());
    if let Some(path) = &args.config {
        let config = run_config::RunConfig::load(path)?;
        run_config::apply(config, &cli.explicit, &mut db, &mut network, &mut args)?;
    }
    let component = args
        .component
        .context("name the component to run (api, processor, sender, monitor, webhooks or all), on the command line or as `component` in --config")?;
    crate::run::run(&db, network, component, &args.options()?)
}

/// The staff API, called with the token of the staff member running the command.
pub(crate) struct ApiSession {
    pub api: StaffApi,
}

impl ApiSession {
    fn open(cli: &Cli) -> Result<ApiSession> {
        let token = read_token(cli)?;
        Ok(ApiSession {
            api: StaffApi::new(&cli.api, Some(&token))?,
        })
    }
}

fn read_token(cli: &Cli) -> Result<ApiToken> {
    let text: Zeroizing<String> = match (&cli.token, &cli.token_file) {
        (_, Some(file)) => Zeroizing::new(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the token file {}", file.display()))?,
        ),
        (Some(token), None) => Zeroizing::new(token.clone()),
        (None, None) => bail!(
            "this command acts as a staff member: give your token with SLUICE_TOKEN, --token-file or --token"
        ),
    };
    Ok(ApiToken::parse(&text)?)
}

/// The database, for host-local commands only (`audit`, `identity`); staff commands go
/// through the API.
pub(crate) fn open_database(path: &Path, network: Option<Network>) -> Result<Coordinator> {
    Ok(Coordinator::open(path, network)?)
}
