//! Replays the `core_rpc_reply` fuzz target's seeds (`fuzz/seeds/core_rpc_reply/`, replies
//! captured from a Bitcoin Core 30 node in `core_rpc_samples.json`, each prefixed by the
//! byte that picks bitcoind's HTTP status) through the entry point `cargo fuzz` drives,
//! and checks they still reach deep: typed values out of success replies, node errors
//! with their codes, a raw block that decodes.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::Path;

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::{Block, Network};
use sluice_coordinator::chain::reply::parse_reply;
use sluice_coordinator::chain::types::{BlockchainInfo, VerboseBlock};
use sluice_coordinator::fuzz_entry::core_rpc_reply;

#[test]
fn core_rpc_reply_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/core_rpc_reply");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "too few seeds in {}", dir.display());
    let (mut node_errors, mut chain_info, mut verbose_blocks, mut raw_blocks) = (0, 0, 0, 0);
    for file in files {
        let seed = std::fs::read(&file).unwrap();
        core_rpc_reply(&seed);
        for len in (0..seed.len()).step_by(13) {
            core_rpc_reply(&seed[..len]);
        }
        let (status, body) = (if seed[0] == 0 { 200 } else { 500 }, &seed[1..]);
        let url = "http://127.0.0.1:18443";
        if let Err(e) = parse_reply::<serde_json::Value>(url, "m", status, body) {
            node_errors += usize::from(e.rpc_code().is_some());
        }
        chain_info += usize::from(parse_reply::<BlockchainInfo>(url, "m", status, body).is_ok());
        verbose_blocks += usize::from(parse_reply::<VerboseBlock>(url, "m", status, body).is_ok());
        if let Ok(hex) = parse_reply::<String>(url, "m", status, body) {
            if let Ok(block) = deserialize_hex::<Block>(&hex) {
                assert_eq!(
                    block,
                    bitcoin::blockdata::constants::genesis_block(Network::Regtest)
                );
                raw_blocks += 1;
            }
        }
    }
    assert!(node_errors >= 4, "the corpus should hold node errors");
    assert_eq!((chain_info, verbose_blocks, raw_blocks), (1, 1, 1));
}
