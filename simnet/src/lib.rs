//! simnet: an embedded regtest-like chain that speaks Bitcoin Core's JSON-RPC subset over
//! HTTP, for development and tests; production uses Bitcoin Core.
//!
//! It behaves as the Bitcoin Core the tests run (v31.99, `scripts/build-bitcoind.sh`)
//! in regtest with `-txindex=1` and no peers: real blocks (regtest genesis, proof of work
//! at `0x207fffff` checked on every block, merkle and witness commitments, BIP34 heights,
//! 50 BTC halving every 150 blocks, coinbase maturity 100), a block tree with reorgs
//! (`invalidateblock`, `reconsiderblock`, and the simnet-only `simnet_reorg DEPTH
//! [NEW_BLOCKS]`), a UTXO set with undo data, and a mempool with Core's cluster-mempool
//! admission rules and reject reasons (full replace-by-fee on modified fees with the
//! feerate-diagram check, cluster limits, ephemeral dust, minimum relay fee,
//! `prioritisetransaction` deltas that block assembly honours) where every input's script is checked
//! by Bitcoin Core's interpreter (`sluice_shared::consensus::verify_transaction`).
//! `tests/tests/simnet_agrees_with_core.rs` replays the same transactions through simnet
//! and a real node and compares every answer.
//!
//! Known differences from Core: scripts are checked with consensus flags only (Core's
//! mempool adds standardness flags such as low-S and clean stack, which
//! `bitcoinconsensus` does not expose), so a script-failure message names the input but not
//! Core's exact script error; sigop limits, TRUC (v3) rules, package relay and mempool
//! size limits are not modelled; `prioritisetransaction` deltas are not kept across a
//! restart; `getblock` verbosity 3 answers as verbosity 2; clusters are linearized in
//! entry order (Core searches for the best linearization), which is exact for the chains
//! of spends Sluice makes.

mod accept;
pub mod chainstate;
mod clock;
mod json;
mod mempool;
mod mining;
pub mod node;
#[cfg(test)]
mod node_tests;
mod params;
mod rpc;
pub mod rules;
mod scan;
mod script_text;
mod server;
mod store;

pub use node::Node;
pub use rules::Rejection;
pub use server::{spawn, SimnetError, SimnetHandle, SimnetOptions};
pub use store::StoreError;
