//! Real Bitcoin Core for the end-to-end tests. The node itself (spawn, cookie, mining,
//! reorg) is `sluice_devnet::bitcoind`, shared with `sluice-devnet --bitcoind`; this adds
//! the tests' rule: a missing node is a failure that says how to build it, never a skip.
//!
//! The binaries are found in `$SLUICE_BITCOIND_DIR`, else in the cache that
//! `scripts/build-bitcoind.sh` fills (`~/.cache/sluice/bitcoin-core-0.4.1/bin`).

use std::path::PathBuf;

pub use sluice_devnet::bitcoind::Bitcoind;
use sluice_devnet::bitcoind::{default_dir, locate, BUILD_SCRIPT, DIR_VARIABLE};

/// The directory holding `bitcoind`; panics with what to do when it is missing.
pub fn bitcoind_dir() -> PathBuf {
    let dir = default_dir();
    if let Err(e) = locate(&dir) {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI: Bitcoin Core is missing ({e:#}). .ci/run builds it with {BUILD_SCRIPT} before the tests; \
                 a CI job that runs `cargo test` directly must run that script first (or set {DIR_VARIABLE})"
            );
        }
        panic!(
            "these tests run against a real Bitcoin Core node: {e:#}.\n\
             Build it once per machine with `{BUILD_SCRIPT}` (run from the repository root), then run the tests again"
        );
    }
    dir
}

/// Starts `bitcoind -regtest` (own data directory, free ports, cookie auth).
pub async fn start_bitcoind(extra_args: &[&str]) -> Bitcoind {
    match Bitcoind::start(&bitcoind_dir(), extra_args).await {
        Ok(node) => node,
        Err(e) => panic!("starting bitcoind: {e:#}"),
    }
}
