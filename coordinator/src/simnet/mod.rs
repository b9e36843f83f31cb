//! simnet: an embedded regtest-like chain that speaks Bitcoin Core's JSON-RPC subset over
//! HTTP and checks every transaction's scripts with Bitcoin Core's interpreter. The
//! embedded default for the quick start and the tests; production uses Bitcoin Core.

pub mod chain;
pub mod server;

pub use chain::SimChain;
pub use server::{spawn, SimnetHandle, SimnetOptions};
