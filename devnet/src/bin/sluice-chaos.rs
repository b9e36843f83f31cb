//! `sluice-chaos --minutes N`: the chaos run (`sluice_devnet::chaos`). Kills and restarts
//! every component and reorgs simnet at random for N minutes while withdrawals flow, then
//! checks on the chain and in the signers' journals that nothing was paid twice, nothing
//! was lost and no signer went above its limits. Like `sluice-devnet`, this executable
//! also serves as `sluice-chaos coordinator ARGS` and `sluice-chaos signer ARGS`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rand::RngCore;
use sluice_devnet::chaos::{self, ChaosOptions};
use sluice_devnet::processes::Programs;

#[derive(Debug, Parser)]
#[command(
    name = "sluice-chaos",
    about = "Kill and restart every Sluice component and reorg the chain at random while withdrawals flow; then check nothing was lost, paid twice or signed above a limit"
)]
struct Args {
    /// How long to inject faults.
    #[arg(long, default_value_t = 1.0)]
    minutes: f64,
    /// The schedule's seed (printed at the start of every run; give it to replay one).
    #[arg(long)]
    seed: Option<u64>,
    /// How long the withdrawals may take to confirm once the chaos stops, in seconds.
    #[arg(long, default_value_t = 240)]
    settle_seconds: u64,
    /// Keep state and logs here (default: a new temporary directory, removed at the end
    /// unless --keep or the run fails).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the temporary directory.
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    if let Some(code) = sluice_devnet::multi_call::dispatch() {
        return code;
    }
    match chaos_run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn chaos_run(args: Args) -> anyhow::Result<()> {
    if !(args.minutes.is_finite() && args.minutes > 0.0) {
        anyhow::bail!("--minutes must be a positive number of minutes");
    }
    let seed = args.seed.unwrap_or_else(|| rand::rngs::OsRng.next_u64());
    println!("sluice-chaos seed {seed} (replay with --seed {seed})");
    println!("DEVNET ONLY: regtest coins, throwaway keys sealed with --dangerous-weak-kdf.");
    let (dir, temp) = match &args.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new().prefix("sluice-chaos-").tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    println!("State and logs in {}", dir.display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(chaos::run(ChaosOptions {
        dir,
        programs: Programs::this_executable()?,
        chaos: Duration::from_secs_f64(args.minutes * 60.0),
        settle: Duration::from_secs(args.settle_seconds),
        seed,
        verbose: true,
    }));
    if let Some(temp) = temp {
        if args.keep || outcome.is_err() {
            println!("Kept {}", temp.keep().display());
        }
    }
    let report = outcome.map_err(|e| e.context(format!("chaos run with seed {seed} failed")))?;
    println!(
        "\nsluice-chaos seed {}: {:.1} min of chaos, {} kills survived ({}), {} reorgs; {} withdrawals all confirmed {:.1} s after",
        report.seed,
        report.chaos.as_secs_f64() / 60.0,
        report.total_kills(),
        report
            .kills
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.reorgs,
        report.withdrawals,
        report.settled_in.as_secs_f64()
    );
    for s in &report.signers {
        println!(
            "signer {}: {} journal entries verify; {} reservations, {} reserved of its {} total",
            s.name, s.journal_entries, s.reservations, s.reserved, s.total
        );
    }
    Ok(())
}
