//! `cargo bench -p sluice-devnet`: withdrawals per second from approval to broadcast with
//! two online signers, and p50/p99 latency, at 10, 100 and 1,000 withdrawals per batch,
//! on simnet and on a real Bitcoin Core node side by side, with the CPU time each process
//! used. The report is docs/benchmarks.md.
//!
//! Arguments after `--` narrow the run: a batch size (`100`) and/or a chain (`simnet`,
//! `core`). `tor` runs the signers in stealth mode: a private Tor network of Debian's `tor`
//! on 127.0.0.1 (devnet/src/tor_network.rs), the coordinator's signer API as an onion
//! service, both signers dialing it through arti.
//!
//! `SLUICE_BENCH_WITHDRAWALS` sets the number of withdrawals per run (2,000),
//! `SLUICE_BENCH_CLIENTS` the number of clients requesting them (8), and
//! `SLUICE_BENCH_KEEP=1` keeps each run's directory (logs, databases) and says where.
//!
//! Core is the node a deployment runs: the -O2 build (`SLUICE_BITCOIND_OPT=2
//! scripts/build-bitcoind.sh`, or `SLUICE_BITCOIND_DIR`) with regtest's consistency checks
//! off. The tests' -O0 node with its checks on spent half the node's CPU re-checking the
//! whole mempool on every transaction, CPU the coordinator shares on two cores. When the
//! node is missing the benchmark stops and says how to build it rather than skip it.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a report printer

use std::path::Path;

use sluice_devnet::bitcoind::{benchmark_dir, locate};
use sluice_devnet::chain::ChainChoice;
use sluice_devnet::processes::Programs;
use sluice_devnet::throughput::measure;
use sluice_devnet::tor_network::TorNetwork;

/// KiB as MiB with one decimal.
fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn main() {
    // `cargo bench` passes --bench; other arguments pick batch sizes and chains.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batch_filter: Option<usize> = args.iter().find_map(|a| a.parse().ok());
    let only_simnet = args.iter().any(|a| a == "simnet");
    let only_core = args.iter().any(|a| a == "core");
    let stealth = args.iter().any(|a| a == "tor");
    let keep = std::env::var_os("SLUICE_BENCH_KEEP").is_some_and(|v| v == "1");
    let count: usize = std::env::var("SLUICE_BENCH_WITHDRAWALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let mut chains = Vec::new();
    if !only_core {
        chains.push(ChainChoice::Simnet);
    }
    if !only_simnet {
        let bitcoind_dir = benchmark_dir();
        if let Err(e) = locate(&bitcoind_dir) {
            panic!(
                "the benchmark runs on an -O2 Bitcoin Core too: {e:#}. Build it with \
                 `SLUICE_BITCOIND_OPT=2 scripts/build-bitcoind.sh` (or pass `-- simnet` to run simnet alone)"
            );
        }
        chains.push(ChainChoice::Core {
            bitcoind_dir,
            consistency_checks: false,
        });
    }
    // One private Tor network for the whole run (its tor processes stop on drop).
    let tor = stealth.then(|| {
        let network = TorNetwork::start().unwrap_or_else(|e| panic!("the private Tor network: {e:#}"));
        println!(
            "stealth mode: private Tor network ready in {:.1} s",
            network.started_in().as_secs_f64()
        );
        network
    });
    let programs = Programs::multi_call(Path::new(env!("CARGO_BIN_EXE_sluice-devnet")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "chain | withdrawals per batch | withdrawals | seconds | intake s | withdrawals/s | p50 | p99 | max | \
         CPU s: coordinator | signers | bitcoind | bench process | peak RSS MiB: coordinator | signer | \
         coordinator RSS MiB at 25/50/75/100 % broadcast | busy retries"
    );
    println!("---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---");
    for batch in [10, 100, 1_000] {
        if batch_filter.is_some_and(|f| f != batch) {
            continue;
        }
        for chain in &chains {
            let dir = tempfile::tempdir().unwrap();
            let tor_network = tor.as_ref().map(|network| {
                let file = dir.path().join("tor-network.json");
                network.write_network_file(&file).unwrap();
                file
            });
            let result = runtime
                .block_on(measure(
                    programs.clone(),
                    dir.path().to_path_buf(),
                    chain,
                    batch,
                    count,
                    tor_network,
                ))
                .unwrap_or_else(|e| panic!("batch {batch} on {chain:?}: {e:#}"));
            if keep {
                // The logs and databases, to trace where a run's time went.
                eprintln!("run kept in {}", dir.keep().display());
            }
            let seconds = |d: std::time::Duration| format!("{:.1}", d.as_secs_f64());
            println!(
                "{}{} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {} | {} | {} | {} | {} | {} | {} | {}",
                result.chain,
                if stealth { " (signers over Tor)" } else { "" },
                result.batch,
                result.withdrawals,
                result.elapsed.as_secs_f64(),
                result.intake.as_secs_f64(),
                result.per_second(),
                result.p50.as_secs_f64() * 1e3,
                result.p99.as_secs_f64() * 1e3,
                result.max.as_secs_f64() * 1e3,
                seconds(result.cpu.coordinator),
                seconds(result.cpu.signers),
                result.cpu.node.map_or("-".to_owned(), seconds),
                seconds(result.cpu.this_process),
                mib(result.memory.coordinator_peak_kib),
                mib(result.memory.signer_peak_kib),
                result.memory.coordinator_rss_kib.map(mib).join("/"),
                result.busy_retries,
            );
        }
    }
}
