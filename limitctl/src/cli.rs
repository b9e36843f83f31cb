//! Command-line interface of `limitctl`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "limitctl",
    version,
    about = "Security officers' tool: officer keys, signed limit commands, printable QR sheets",
    long_about = "Security officers' tool: officer keys, signed limit commands, printable QR \
                  sheets.\n\nRun it on an offline machine. See docs/security-officer-guide.md."
)]
pub struct Cli {
    /// The officer's home directory (holds the encrypted officer key).
    #[arg(long, global = true, env = "LIMITCTL_HOME", default_value_os_t = default_home())]
    pub home: PathBuf,
    /// Read the keystore passphrase from the first line of this file instead of prompting.
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".limitctl")
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this officer's key (refuses to overwrite one) and print its public key.
    Keygen(KeygenArgs),
    /// Print this officer's public key (x-only hex) and its fingerprint.
    Pubkey,
    /// Create a new, unsigned limit command for one signer.
    New(Box<NewArgs>),
    /// Add this officer's signature to a command file (in place).
    Sign(SignArgs),
    /// Write the printable sheet (command.png, command.svg, command.pdf).
    Print(PrintArgs),
    /// Show every field of a command, from a command file or a photo/scan of its sheet.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// DANGEROUS, TESTS ONLY: seal the key with trivially weak key derivation (Argon2id
    /// with 64 KiB, one pass), so a stolen keystore falls to a quick passphrase search.
    #[arg(long, hide = true)]
    pub dangerous_weak_kdf: bool,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["raise_total", "set_rate", "pause", "resume", "release"])
))]
pub struct NewArgs {
    /// The target signer's id, as printed by `sluice-signer id` (16 hex digits).
    #[arg(long)]
    pub signer: String,
    /// The asset whose limits change.
    #[arg(long, default_value = "BTC")]
    pub asset: String,
    /// Allow the signer to sign this much more in total (in BTC, e.g. 10).
    #[arg(long, value_name = "AMOUNT")]
    pub raise_total: Option<String>,
    /// New refill rate: AMOUNT (BTC) every --per-seconds, holding at most --burst.
    #[arg(long, value_name = "AMOUNT", requires_all = ["per_seconds", "burst"])]
    pub set_rate: Option<String>,
    /// The refill period of --set-rate, in whole seconds.
    #[arg(long, value_name = "S", requires = "set_rate")]
    pub per_seconds: Option<u32>,
    /// The burst capacity of --set-rate (BTC).
    #[arg(long, value_name = "AMOUNT", requires = "set_rate")]
    pub burst: Option<String>,
    /// Stop all signing of the asset until a resume command.
    #[arg(long)]
    pub pause: bool,
    /// Resume signing after a pause.
    #[arg(long)]
    pub resume: bool,
    /// A release instruction for the shadow (--signer is the shadow's id): spend the
    /// tagged deposit TXID:VOUT, whole, to --release-to, once.
    #[arg(long, value_name = "TXID:VOUT", requires_all = ["release_amount", "release_to", "release_purpose", "network"])]
    pub release: Option<String>,
    /// The released coin's whole value (BTC), as the ledger shows it; the fee comes out of it.
    #[arg(long, value_name = "AMOUNT", requires = "release")]
    pub release_amount: Option<String>,
    /// Where the coin goes: the owner's address, or the authority's.
    #[arg(long, value_name = "ADDRESS", requires = "release")]
    pub release_to: Option<String>,
    /// return-to-owner or transfer-to-authority.
    #[arg(long, value_name = "PURPOSE", requires = "release")]
    pub release_purpose: Option<String>,
    /// The network of --release-to (bitcoin, testnet, testnet4, signet, regtest).
    #[arg(long, requires = "release")]
    pub network: Option<String>,
    /// Start of validity: RFC 3339 UTC (2026-05-01T09:00:00Z), a UTC date (2026-05-01,
    /// meaning its midnight) or Unix seconds. Default: now.
    #[arg(long, value_name = "T")]
    pub not_before: Option<String>,
    /// End of validity (inclusive), same forms. Default: 30 days after the start.
    #[arg(long, value_name = "T")]
    pub not_after: Option<String>,
    /// The command file to create (must not exist).
    #[arg(long, value_name = "CMD")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The command file; the signature is added in place.
    #[arg(value_name = "CMD")]
    pub command: PathBuf,
    /// Sign without asking for confirmation (the command is still shown).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PrintArgs {
    /// The signed command file.
    #[arg(value_name = "CMD")]
    pub command: PathBuf,
    /// Directory for command.png, command.svg and command.pdf (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A command file, or a PNG/JPEG image of a sheet's QR code.
    #[arg(value_name = "IMAGE|CMD")]
    pub input: PathBuf,
    /// An officer public key (x-only hex) to check signatures against; repeat per officer.
    #[arg(long = "officer-key", value_name = "HEX")]
    pub officer_keys: Vec<String>,
    /// With --officer-key: also say whether a signer trusting these keys with this
    /// threshold would accept the command now (exit status 1 if not).
    #[arg(long, value_name = "M", requires = "officer_keys")]
    pub threshold: Option<usize>,
}
