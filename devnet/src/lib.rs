//! The whole Sluice system on one machine, for a first look and for end-to-end tests: a
//! chain (simnet, or Bitcoin Core with `--bitcoind`), the coordinator's services and
//! online signers run as separate processes that talk over loopback HTTP exactly as they
//! do in production, and a scenario feeds them withdrawals.
#![forbid(unsafe_code)]

pub mod api_client;
pub mod bitcoind;
pub mod chain;
pub mod chaos;
pub mod deposits;
pub mod multi_call;
pub mod processes;
pub mod scenario;
pub mod throughput;
pub mod tor_network;
