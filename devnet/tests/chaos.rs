//! The chaos run, short: 50 s of SIGKILLs of every component (api, processor, sender,
//! monitor, both online signers) and simnet reorgs while withdrawals flow, then every
//! withdrawal confirmed, paid once, and within the signers' journaled limits. The long
//! run is `cargo run -p sluice-devnet --bin sluice-chaos -- --minutes N`.
//! `SLUICE_CHAOS_SEED=N` replays a schedule.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::Path;
use std::time::Duration;

use sluice_devnet::chaos::{self, ChaosOptions};
use sluice_devnet::processes::Programs;

#[test]
fn every_component_killed_at_random_loses_nothing_and_pays_once() {
    let seed = std::env::var("SLUICE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("chaos seed {seed} (replay: SLUICE_CHAOS_SEED={seed})");
    let dir = tempfile::tempdir().unwrap();
    let options = ChaosOptions {
        dir: dir.path().to_path_buf(),
        programs: Programs::multi_call(Path::new(env!("CARGO_BIN_EXE_sluice-devnet"))),
        chaos: Duration::from_secs(50),
        settle: Duration::from_secs(240),
        seed,
        verbose: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = match runtime.block_on(chaos::run(options)) {
        Ok(report) => report,
        Err(e) => {
            let kept = dir.keep();
            panic!("chaos seed {seed}: {e:#}\nlogs kept in {}", kept.display());
        }
    };
    eprintln!(
        "seed {seed}: {} kills {:?}, {} reorgs, {} withdrawals confirmed {:?} after",
        report.total_kills(),
        report.kills,
        report.reorgs,
        report.withdrawals,
        report.settled_in
    );
    // Every process was killed at least once, and the chain reorganised.
    assert_eq!(report.kills.len(), 6, "{:?}", report.kills);
    assert!(report.reorgs >= 1);
    assert!(report.withdrawals >= 10);
    for signer in &report.signers {
        assert!(
            signer.reservations > 0 && signer.reserved <= signer.total,
            "{signer:?}"
        );
    }
}
