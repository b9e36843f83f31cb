//! Command-line interface of `limitctl`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "limitctl",
    version,
    about = "Security officers' tool: signed limit commands printed as QR codes"
)]
pub struct Cli {
    /// Where this officer's key lives.
    #[arg(long, global = true, env = "LIMITCTL_HOME", default_value_os_t = default_home())]
    pub home: PathBuf,
    /// Read the key passphrase from the first line of this file instead of prompting.
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
    /// Create this officer's signing key.
    Keygen {
        /// TEST ONLY: seal the key with trivially weak key derivation.
        #[arg(long, hide = true)]
        dangerous_weak_kdf: bool,
    },
    /// Print this officer's public key and its fingerprint.
    Pubkey,
    /// Write a new, unsigned command file.
    New(NewArgs),
    /// Add this officer's signature to a command file.
    Sign { file: PathBuf },
    /// Write the printable sheet (command.png, command.svg, command.pdf).
    Print {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Decode a command (file or photo of a sheet) and check each signature.
    Inspect {
        /// A command file, or an image (PNG/JPEG) of a printed sheet.
        input: PathBuf,
        /// Officer public keys to check signatures against (this officer's own is added).
        #[arg(long = "officer-key")]
        officer_keys: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Target signer id (`sluice-signer id` prints it).
    #[arg(long)]
    pub signer: String,
    #[arg(long, default_value = "BTC")]
    pub asset: String,
    /// Allow this many more BTC in total.
    #[arg(long, group = "action")]
    pub raise_total: Option<String>,
    /// New refill amount (BTC) per --per-seconds, with --burst.
    #[arg(long, group = "action", requires_all = ["per_seconds", "burst"])]
    pub set_rate: Option<String>,
    #[arg(long)]
    pub per_seconds: Option<u32>,
    #[arg(long)]
    pub burst: Option<String>,
    /// Stop all signing on the signer.
    #[arg(long, group = "action")]
    pub pause: bool,
    /// Resume signing on the signer.
    #[arg(long, group = "action")]
    pub resume: bool,
    /// Valid from (Unix seconds or UTC like 2026-11-23T14:00:00Z); default now.
    #[arg(long)]
    pub not_before: Option<String>,
    /// Valid until; default 30 days after --not-before.
    #[arg(long)]
    pub not_after: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}
