//! simnet: an embedded regtest-like chain that speaks Bitcoin Core's JSON-RPC subset over
//! HTTP, for development and tests; production uses Bitcoin Core.
//!
//! It behaves as a Core 30 regtest node with `-txindex=1` and no peers: real blocks (regtest
//! genesis, proof of work at `0x207fffff` checked on every block, merkle and witness
//! commitments, BIP34 heights, 50 BTC halving every 150 blocks, coinbase maturity 100), a
//! block tree with reorgs (`invalidateblock`, `reconsiderblock`, and the simnet-only
//! `simnet_reorg DEPTH [NEW_BLOCKS]`), a UTXO set with undo data, and a mempool with Core
//! 30's admission rules and reject reasons (full replace-by-fee on modified fees, chain
//! limits, dust, minimum relay fee, `prioritisetransaction` deltas that block assembly
//! honours) where every input's script is checked by Bitcoin Core's interpreter
//! (`sluice_shared::consensus::verify_transaction`).
//!
//! Known differences from Core: scripts are checked with consensus flags only (Core's
//! mempool adds standardness flags such as low-S and clean stack, which
//! `bitcoinconsensus` does not expose), so a script-failure message names the input but not
//! Core's exact script error; sigop limits, TRUC (v3) rules, package relay and mempool
//! size limits are not modelled; `prioritisetransaction` deltas are not kept across a
//! restart; `getblock` verbosity 3 answers as verbosity 2.

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
