//! `sluice-devnet`: runs the devnet scenario. The same executable also serves as
//! `sluice-devnet coordinator ARGS` and `sluice-devnet signer ARGS` (the code of
//! `sluice-coordinator` and `sluice-signer`), so the scenario's components are real,
//! separate processes without building the other binaries first.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sluice_devnet::bitcoind;
use sluice_devnet::chain::ChainChoice;
use sluice_devnet::processes::Programs;
use sluice_devnet::scenario::{self, DevnetOptions};
use sluice_devnet::tor_network::TorNetwork;

#[derive(Debug, Parser)]
#[command(
    name = "sluice-devnet",
    about = "Run the whole Sluice system on this machine (simnet or Bitcoin Core, coordinator, online signers) and feed it withdrawals"
)]
struct Args {
    /// Keep state and logs here (default: a new temporary directory, removed at the end
    /// unless --keep).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the temporary directory.
    #[arg(long)]
    keep: bool,
    /// How many withdrawals to feed.
    #[arg(long, default_value_t = 12)]
    withdrawals: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline_seconds: u64,
    /// Run two full coordinator instances on one database (every service twice).
    #[arg(long)]
    redundant: bool,
    /// Kill coordinator instance 0 and signer A mid-run, then restart them (implies
    /// --redundant).
    #[arg(long)]
    crash_and_restart: bool,
    /// Once all are confirmed, reorg the top blocks and watch them confirm again.
    #[arg(long)]
    reorg: bool,
    /// Run on a real Bitcoin Core node (bitcoind -regtest, started and stopped by the
    /// devnet) instead of simnet. DIR holds bitcoind; without DIR, $SLUICE_BITCOIND_DIR or
    /// the cache that scripts/build-bitcoind.sh fills (~/.cache/sluice/bitcoin-core-*/bin).
    #[arg(long, value_name = "DIR")]
    bitcoind: Option<Option<PathBuf>>,
    /// Stealth mode: start a private Tor network on 127.0.0.1 (Debian's tor: 3 directory
    /// authorities, 2 relays); the coordinator publishes its signer API as an onion service
    /// there and signers A and B reach it only through Tor (arti in-process).
    #[arg(long)]
    tor: bool,
}

fn main() -> ExitCode {
    if let Some(code) = sluice_devnet::multi_call::dispatch() {
        return code;
    }
    match devnet(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn devnet(args: Args) -> anyhow::Result<()> {
    let (dir, temp) = match &args.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new().prefix("sluice-devnet-").tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    println!("Sluice devnet in {}", dir.display());
    println!("DEVNET ONLY: regtest coins, throwaway keys sealed with --dangerous-weak-kdf.");
    let chain = match args.bitcoind {
        None => ChainChoice::Simnet,
        Some(dir) => {
            let bitcoind_dir = dir.unwrap_or_else(bitcoind::default_dir);
            bitcoind::locate(&bitcoind_dir)?;
            ChainChoice::Core {
                bitcoind_dir,
                consistency_checks: true,
            }
        }
    };
    // Kept running until the scenario ends; its processes stop when it is dropped.
    let tor_network = if args.tor {
        println!("Starting a private Tor network on 127.0.0.1 (3 authorities, 2 relays)...");
        let network = TorNetwork::start()?;
        let file = dir.join("tor-network.json");
        network.write_network_file(&file)?;
        println!(
            "Private Tor network ready in {:.1} s (its consensus lists every relay); arti's view of it: {}",
            network.started_in().as_secs_f64(),
            file.display()
        );
        Some((network, file))
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(scenario::run_on(
        DevnetOptions {
            dir: dir.clone(),
            programs: Programs::this_executable()?,
            withdrawals: args.withdrawals,
            deadline: Duration::from_secs(args.deadline_seconds),
            verbose: true,
            redundant: args.redundant || args.crash_and_restart,
            crash_and_restart: args.crash_and_restart,
            reorg: args.reorg,
            tor_network: tor_network.as_ref().map(|(_, file)| file.clone()),
            tor_outage: None,
        },
        &chain,
    ));
    match (args.keep, temp) {
        (true, Some(temp)) => println!("Kept {}", temp.keep().display()),
        (false, Some(temp)) => {
            println!(
                "Removing {} (run with --keep to look at the logs and databases)",
                temp.path().display()
            );
        }
        _ => {}
    }
    drop(tor_network);
    outcome.map(|_| ())
}
