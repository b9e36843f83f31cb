//! Command-line interface of `sluice-signer`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-signer",
    version,
    about = "Sluice signer: verifies PSBTs and signs them within outflow limits"
)]
pub struct Cli {
    /// The signer's home directory (keystore, state, journal).
    #[arg(long, global = true, env = "SLUICE_SIGNER_HOME", default_value_os_t = home_in_user_directory(".sluice-signer"))]
    pub home: PathBuf,
    /// Read the keystore passphrase from the first line of this file instead of prompting.
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `$HOME/NAME` (or `./NAME` without a HOME): the default home of a signer-based program
/// (`sluice-signer`, `sluice-shadow`).
pub fn home_in_user_directory(name: &str) -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(name)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new signer: a new seed (shown once) or a restored one.
    Init(InitArgs),
    /// Show this signer's identity; the last line is the bare signer id.
    Id,
    /// Print `[fingerprint/path]xpub` for the coordinator to compose wallets.
    Xpub {
        /// Account path below the master key, e.g. 84h/1h/0h.
        #[arg(long)]
        path: String,
    },
    /// Register or list wallets this signer signs for.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Set, show or change outflow limits.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Show the review of a PSBT without signing.
    Inspect(PsbtInput),
    /// Review, reserve the outflow, sign and write the signed PSBT.
    Sign(SignArgs),
    /// Show a PSBT file (e.g. the signed one) as a looping animated QR code on the
    /// framebuffer (the appliance's screen) until a key is pressed. Needs no keystore.
    ShowQr(ShowQrArgs),
    /// Check or show the hash-chained journal of decisions.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// The coordinator this signer trusts when online (its identity key, from
    /// `sluice-coordinator identity show`).
    #[command(subcommand)]
    Coordinator(CoordinatorCommand),
    #[cfg(feature = "online")]
    /// Sign online: dial out to the coordinator, fetch the sessions that need this
    /// signer's key, check and sign each within the limits, post the signatures.
    Online {
        /// The coordinator's API: http://<56 characters>.onion in stealth mode (through
        /// Tor only, with this signer's restricted-discovery key), or http://HOST:PORT on a
        /// loopback address (plain HTTP elsewhere is refused: use a tunnel whose local end
        /// is here). Replies count only if signed by the key set with `coordinator trust`.
        #[arg(long, value_name = "URL")]
        coordinator: String,
        /// Stealth mode on a private test network described by this file, instead of the
        /// public Tor network (tests and `sluice-devnet --tor` only).
        #[arg(long, value_name = "FILE")]
        tor_network: Option<std::path::PathBuf>,
        /// Seconds between polls.
        #[arg(long, default_value_t = 5.0)]
        poll_seconds: f64,
        /// Poll once and exit.
        #[arg(long)]
        once: bool,
    },
    /// Walk through the cold signer end to end in a throwaway home (keys are demo keys).
    Demo {
        /// Keep the demo's directory (signer home, PSBTs, QR frames) instead of deleting it.
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// bitcoin, testnet, testnet4, signet or regtest.
    #[arg(long)]
    pub network: String,
    /// Restore from a BIP39 mnemonic in this file.
    #[arg(long, conflicts_with = "from_xprv_file")]
    pub from_mnemonic_file: Option<PathBuf>,
    /// Restore from a master extended private key (xprv/tprv) in this file.
    #[arg(long)]
    pub from_xprv_file: Option<PathBuf>,
    /// A security officer's x-only public key (hex); repeat for each officer.
    #[arg(long = "officer-key")]
    pub officer_keys: Vec<String>,
    /// How many officers must sign a limit command.
    #[arg(long, default_value_t = 0)]
    pub officer_threshold: usize,
    /// TESTS AND DEMOS ONLY: seal the keystore with trivially weak key derivation.
    #[arg(long, hide = true)]
    pub dangerous_weak_kdf: bool,
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Register a wallet descriptor (one multipath `/<0;1>/*`, or receive + change).
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        descriptor: String,
        #[arg(long)]
        change_descriptor: Option<String>,
        /// How many change indices above the highest this signer has signed for (or
        /// above 0) change may sit; change beyond is refused.
        #[arg(long, default_value_t = sluice_shared::inspect::ChangeIndexBound::DEFAULT_GAP,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        change_gap: u32,
    },
    /// List registered wallets.
    List,
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Set the initial limits (once, before any signature).
    Init {
        #[arg(long, default_value = "BTC")]
        asset: String,
        /// Refill amount per period, in BTC.
        #[arg(long)]
        rate: String,
        /// Refill period in seconds.
        #[arg(long)]
        per_seconds: u64,
        /// Bucket capacity, in BTC.
        #[arg(long)]
        burst: String,
        /// Total allowance, in BTC; only signed limit commands raise it.
        #[arg(long)]
        total: String,
        /// Largest fee this signer signs, in BTC.
        #[arg(long, default_value = "0.01")]
        max_fee: String,
        /// An online signer pauses itself after this many refused sessions (inspection,
        /// signing plan, changed repeat) within --refusal-window-seconds; 0 turns it off.
        #[arg(long, default_value_t = 3)]
        pause_after_refusals: u32,
        /// The window for --pause-after-refusals, in seconds.
        #[arg(long, default_value_t = 600)]
        refusal_window_seconds: u64,
    },
    /// Show rate, bucket level now, remaining total.
    Show {
        #[arg(long, default_value = "BTC")]
        asset: String,
    },
    /// Apply a limit command signed by the security officers (scanned from its paper QR).
    Apply {
        /// Image(s) of the printed command (PNG or JPEG).
        #[arg(long, num_args = 1.., required_unless_present_any = ["text", "camera"], conflicts_with_all = ["text", "camera"])]
        scan: Vec<PathBuf>,
        /// The command as text (e.g. typed by a keyboard-wedge scanner).
        #[arg(long, conflicts_with = "camera")]
        text: Option<String>,
        /// Scan the printed command with a V4L2 camera, e.g. /dev/video0 (YUYV or GREY).
        #[arg(long, value_name = "DEVICE")]
        camera: Option<PathBuf>,
        /// Give up scanning with the camera after this many seconds.
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
        camera_seconds: u64,
    },
}

#[derive(Debug, Args)]
pub struct PsbtInput {
    /// PSBT file (BIP174 binary or base64).
    #[arg(
        long = "in",
        conflicts_with_all = ["in_qr", "in_qr_video", "in_qr_camera"],
        required_unless_present_any = ["in_qr", "in_qr_video", "in_qr_camera"]
    )]
    pub input: Option<PathBuf>,
    /// QR images (PNG/JPEG) holding the PSBT as ur:crypto-psbt frames, any order.
    #[arg(long, num_args = 1.., conflicts_with_all = ["in_qr_video", "in_qr_camera"])]
    pub in_qr: Vec<PathBuf>,
    /// A video of the animated QR code: an animated PNG, or YUV4MPEG2 (.y4m; convert
    /// other videos with `ffmpeg -i IN -f yuv4mpegpipe OUT.y4m`).
    #[arg(long, value_name = "FILE", conflicts_with = "in_qr_camera")]
    pub in_qr_video: Option<PathBuf>,
    /// Scan the (animated) QR code with a V4L2 camera, e.g. /dev/video0 (YUYV or GREY).
    #[arg(long, value_name = "DEVICE")]
    pub in_qr_camera: Option<PathBuf>,
    /// Give up scanning with the camera after this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub camera_seconds: u64,
    /// Registered wallet to check against (found from the PSBT when omitted).
    #[arg(long)]
    pub wallet: Option<String>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub psbt: PsbtInput,
    /// Where to write the signed PSBT (default: NAME-signed.psbt beside the input).
    #[arg(long, conflicts_with_all = ["out_qr", "out_qr_animation"])]
    pub out: Option<PathBuf>,
    /// Write the signed PSBT as QR PNG frames into this directory.
    #[arg(long, conflicts_with = "out_qr_animation")]
    pub out_qr: Option<PathBuf>,
    /// Write the signed PSBT as one looping animated QR code (APNG) to this new file.
    #[arg(long, value_name = "FILE.png")]
    pub out_qr_animation: Option<PathBuf>,
    /// Frames a second of the animated QR code.
    #[arg(long, default_value_t = sluice_shared::qr_animation::DEFAULT_FRAMES_PER_SECOND, requires = "out_qr_animation")]
    pub qr_fps: u16,
    /// Bytes of PSBT per frame of the animated QR code (10-400).
    #[arg(long, default_value_t = sluice_shared::ur_psbt::DEFAULT_MAX_FRAGMENT_LEN, requires = "out_qr_animation")]
    pub qr_fragment_len: usize,
    /// Sign without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ShowQrArgs {
    /// The PSBT file to show (binary or base64, version 0 or 2).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// The framebuffer device; its geometry is read from /sys/class/graphics/NAME.
    #[arg(long, default_value = "/dev/fb0")]
    pub framebuffer: PathBuf,
    /// Frames a second.
    #[arg(long, default_value_t = sluice_shared::qr_animation::DEFAULT_FRAMES_PER_SECOND)]
    pub qr_fps: u16,
    /// Bytes of PSBT per frame (10-400).
    #[arg(long, default_value_t = sluice_shared::ur_psbt::DEFAULT_MAX_FRAGMENT_LEN)]
    pub qr_fragment_len: usize,
}

#[derive(Debug, Subcommand)]
pub enum CoordinatorCommand {
    /// Trust this coordinator identity key (64 hex digits): the online signer acts only
    /// on replies it signed.
    Trust {
        key: String,
        /// Replace the key trusted so far.
        #[arg(long)]
        replace: bool,
    },
    /// Show the coordinator key this signer trusts.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Check that no entry was edited or deleted.
    Verify,
    /// Print every entry.
    Show {
        /// Print the entries as a JSON array (seq, recorded_at, event, details, hashes).
        #[arg(long)]
        json: bool,
    },
}
