//! `cargo bench -p sluice-devnet`: withdrawals per second from approval to broadcast with
//! two online signers on simnet, and p50/p99 latency, at 10, 100 and 1,000 withdrawals
//! per batch. The report is docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a report printer

use std::path::Path;

use sluice_devnet::processes::Programs;
use sluice_devnet::throughput::measure;

fn main() {
    // `cargo bench` passes --bench; a filter argument picks batch sizes.
    let filter: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let count: usize = std::env::var("SLUICE_BENCH_WITHDRAWALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let programs = Programs::multi_call(Path::new(env!("CARGO_BIN_EXE_sluice-devnet")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("withdrawals per batch | withdrawals | seconds | withdrawals/s | p50 | p99 | max");
    println!("---|---|---|---|---|---|---");
    for batch in [10, 100, 1_000] {
        if filter.is_some_and(|f| f != batch) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let result = runtime
            .block_on(measure(programs.clone(), dir.path().to_path_buf(), batch, count))
            .unwrap_or_else(|e| panic!("batch {batch}: {e:#}"));
        println!(
            "{} | {} | {:.2} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms",
            result.batch,
            result.withdrawals,
            result.elapsed.as_secs_f64(),
            result.per_second(),
            result.p50.as_secs_f64() * 1e3,
            result.p99.as_secs_f64() * 1e3,
            result.max.as_secs_f64() * 1e3
        );
    }
}
