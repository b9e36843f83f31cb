//! The whole system as separate processes of the real binaries on loopback: a chain
//! (simnet, or a real `bitcoind -regtest`), the coordinator's services, two online signers
//! of a 2-of-3 wallet (the third is cold).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::time::Duration;

use sluice_devnet::chain::ChainChoice;
use sluice_devnet::processes::Programs;
use sluice_devnet::scenario::{self, DevnetOptions, Outcome};
use sluice_e2e::binaries::binary;
use sluice_e2e::bitcoind::bitcoind_dir;
use sluice_shared::api::WithdrawalStatus;

fn run(chain: &ChainChoice, redundant: bool, crash_and_restart: bool, reorg: bool) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = binary("sluice-coordinator").parent().unwrap().to_path_buf();
    let options = DevnetOptions {
        dir: dir.path().to_path_buf(),
        programs: Programs::binaries_in(&bin_dir).unwrap(),
        withdrawals: 12,
        deadline: Duration::from_secs(180),
        verbose: false,
        redundant,
        crash_and_restart,
        reorg,
        tor_network: None,
        tor_outage: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match runtime.block_on(scenario::run_on(options, chain)) {
        Ok(outcome) => outcome,
        Err(e) => {
            let logs: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(15).collect();
                    format!(
                        "--- {}\n{}",
                        e.file_name().to_string_lossy(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                })
                .collect();
            panic!("{e:#}\n{}", logs.join("\n"));
        }
    }
}

/// Withdrawals go from request to confirmed; signer A reaches its total, the flow
/// waits, and resumes only after a 2-of-3 signed `raise-total` is applied. A reorg then
/// sends the last transactions back to the mempool: the monitor returns their withdrawals
/// to `broadcast` and confirms them again. The chain pays every destination exactly what
/// was withdrawn to it.
fn flow_with_limit_wait_and_reorg(chain: &ChainChoice) {
    let outcome = run(chain, false, false, true);
    assert_eq!(outcome.withdrawals.len(), 12);
    assert!(outcome
        .withdrawals
        .iter()
        .all(|w| w.status == WithdrawalStatus::Confirmed));
    assert!(
        outcome.waited_for_limit_command,
        "signer A's total should have stopped the flow until the raise"
    );
    // The online signer told the coordinator why: the waiting withdrawals showed it.
    assert!(
        outcome
            .refusals_before_raise
            .iter()
            .any(|r| r.ends_with(": total_spent")),
        "a waiting withdrawal should show signer A's spent total, not {:?}",
        outcome.refusals_before_raise
    );
    assert!(
        outcome.reorged_and_confirmed_again > 0,
        "the reorg should have sent a confirmed withdrawal back to broadcast"
    );
}

#[test]
fn withdrawals_confirm_and_a_spent_signer_waits_for_a_signed_raise() {
    flow_with_limit_wait_and_reorg(&ChainChoice::Simnet);
}

/// The same flow on a real Bitcoin Core node (the reorg is `invalidateblock` and a longer
/// branch), and the exactly-once check reads Core's own chain.
#[test]
fn on_bitcoin_core_withdrawals_confirm_and_a_spent_signer_waits_for_a_signed_raise() {
    flow_with_limit_wait_and_reorg(&ChainChoice::Core {
        bitcoind_dir: bitcoind_dir(),
        consistency_checks: true,
    });
}

/// Two coordinator instances (every service twice) on one database; one of them and one
/// signer are killed with SIGKILL mid-run and restarted. Nothing is lost and nothing is
/// paid twice (checked against the chain itself).
#[test]
fn killing_components_mid_run_loses_nothing_and_pays_once() {
    killed_components_lose_nothing(&ChainChoice::Simnet);
}

/// The same two-instance SIGKILL run on a real Bitcoin Core node; the exactly-once check
/// reads Core's own blocks.
#[test]
fn on_bitcoin_core_killing_components_mid_run_loses_nothing_and_pays_once() {
    killed_components_lose_nothing(&ChainChoice::Core {
        bitcoind_dir: bitcoind_dir(),
        consistency_checks: true,
    });
}

fn killed_components_lose_nothing(chain: &ChainChoice) {
    let outcome = run(chain, true, true, false);
    assert!(outcome
        .withdrawals
        .iter()
        .all(|w| w.status == WithdrawalStatus::Confirmed));
}
