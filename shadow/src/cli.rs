//! Command-line interface of `sluice-shadow`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sluice_signer::cli::{home_in_user_directory, InitArgs, JournalCommand, LimitsCommand};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-shadow",
    version,
    about = "Sluice shadow: cross-checks the coordinator's deposits against the chain and alone spends the deposit wallet"
)]
pub struct Cli {
    /// The shadow's home directory (keystore, state, journal, sweeps).
    #[arg(long, global = true, env = "SLUICE_SHADOW_HOME", default_value_os_t = home_in_user_directory(".sluice-shadow"))]
    pub home: PathBuf,
    /// Read the keystore passphrase from the first line of this file instead of prompting.
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the sealed keystore (a new seed, shown once, or a restored one) with the
    /// officer keys and threshold that sign limit commands and release instructions.
    Init(InitArgs),
    /// Show the shadow's identity; the last line is its id, which officers name as the
    /// target of limit commands and release instructions.
    Id,
    /// Print `[fingerprint/path]xpub` for the coordinator to compose the deposit wallet.
    Xpub {
        /// Account path below the master key, e.g. 84h/1h/0h.
        #[arg(long)]
        path: String,
    },
    /// Fix the deposit and treasury descriptors (confirmed by their key fingerprints) and
    /// the cross-check settings, once.
    Configure(ConfigureArgs),
    /// Show what the shadow was configured with.
    Show,
    /// Set, show or change the shadow's own outflow limits (the signer's limiter).
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Check or show the shadow's hash-chained journal.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Carry out an officer-signed release instruction: spend exactly that tagged
    /// deposit to exactly that destination, once.
    Release(ReleaseArgs),
    /// Print the newest head of the coordinator's audit log this shadow kept (JSON), for
    /// `sluice-coordinator audit verify --head FILE` on the coordinator's host.
    AuditHead,
    /// Cross-check the coordinator's deposit ledger against the chain: once
    /// (`--once`, exit status 3 on any alarm) or every `--interval-seconds`.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// The deposit wallet's descriptor (multipath `/<0;1>/*`, or receive with
    /// --deposit-change-descriptor): every key in it must be this shadow's own.
    #[arg(long)]
    pub deposit_descriptor: String,
    #[arg(long)]
    pub deposit_change_descriptor: Option<String>,
    /// The master fingerprint of each key of the deposit descriptor, as the operator
    /// confirmed it out of band; repeat for each key. Must match exactly.
    #[arg(long = "deposit-fingerprint", required = true)]
    pub deposit_fingerprints: Vec<String>,
    /// The treasury wallet's descriptor: sweeps pay only addresses derived from it.
    #[arg(long)]
    pub treasury_descriptor: String,
    #[arg(long)]
    pub treasury_change_descriptor: Option<String>,
    /// The master fingerprint of each key of the treasury descriptor, confirmed with
    /// the treasury's signer operators; repeat for each key. Must match exactly.
    #[arg(long = "treasury-fingerprint", required = true)]
    pub treasury_fingerprints: Vec<String>,
    /// The deposit wallet's name on the coordinator.
    #[arg(long)]
    pub coordinator_wallet: String,
    /// Confirmations after which the coordinator credits a deposit (its deposit
    /// wallet setting); the shadow sweeps no sooner.
    #[arg(long)]
    pub credit_confirmations: u32,
    /// The first block that can hold a deposit.
    #[arg(long, default_value_t = 0)]
    pub scan_from_height: u32,
    /// Receive indices watched above the highest the coordinator reports (at least its
    /// gap limit).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub lookahead: u32,
    /// Blocks the coordinator's monitor may lag behind the shadow's node.
    #[arg(long, default_value_t = 1)]
    pub lag_blocks: u32,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Check once and exit: 0 when all agrees, 3 on any alarm.
    #[arg(long)]
    pub once: bool,
    /// Seconds between checks.
    #[arg(long, default_value_t = 30)]
    pub interval_seconds: u64,
    /// Also sweep: after a check without alarms, move confirmed, credited, untagged
    /// deposits to the treasury within the shadow's limits (needs the passphrase).
    #[arg(long)]
    pub sweep: bool,
    /// Fee rate of sweeps, in sat/vB.
    #[arg(long, default_value_t = 2)]
    pub fee_rate_sat_vb: u64,
    /// TESTS ONLY: die (abort, as a kill would) at this point of the first sweep.
    #[arg(long, hide = true, value_enum)]
    pub dangerous_stop_after: Option<crate::spend::DangerousStop>,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Image(s) of the printed instruction (PNG or JPEG).
    #[arg(long, num_args = 1.., required_unless_present = "text", conflicts_with = "text")]
    pub scan: Vec<PathBuf>,
    /// The instruction as text (`SLC1...`).
    #[arg(long)]
    pub text: Option<String>,
    /// Fee rate, in sat/vB.
    #[arg(long, default_value_t = 2)]
    pub fee_rate_sat_vb: u64,
}

/// Where the shadow connects to (outgoing only).
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// The shadow's own node: Bitcoin Core (or simnet) JSON-RPC, e.g. http://127.0.0.1:18443.
    #[arg(long)]
    pub node: String,
    /// Core's cookie file (read before every call).
    #[arg(long, conflicts_with = "node_user")]
    pub node_cookie: Option<PathBuf>,
    /// RPC user; the password is the first line of --node-password-file.
    #[arg(long, requires = "node_password_file")]
    pub node_user: Option<String>,
    #[arg(long)]
    pub node_password_file: Option<PathBuf>,
    /// The coordinator's staff API, e.g. http://10.0.0.5:8080.
    #[arg(long)]
    pub coordinator: String,
    /// A file holding the `shadow` role's staff token (first line).
    #[arg(long)]
    pub token_file: PathBuf,
    /// Where the status (JSON) is written after every check (default: HOME/status.json).
    #[arg(long)]
    pub status_file: Option<PathBuf>,
    /// POST each new set of alarms as JSON to this URL.
    #[arg(long)]
    pub webhook: Option<String>,
}
