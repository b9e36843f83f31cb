//! sluice-shadow: the independent deposit watcher and the only spender of the deposit
//! wallet (issue 11 item 6).
//!
//! It reuses the signer whole: its home is a signer home (the sealed keystore holding
//! the deposit wallet's keys, the sealed state with the shadow's limits, reservations
//! and journal), and every sweep goes through the signer's pipeline. What is its own:
//! [`crosscheck`] (pure: the coordinator's ledger and issued addresses against the
//! deposit descriptor and the chain), [`chain_scan`] (its node), [`staff_client`] (the
//! coordinator's staff API with a read-only `shadow` token), [`audit_watch`] (the
//! coordinator's audit heads, fetched and kept), [`report`] (status file, webhook),
//! [`sweeps`] and [`spend`] (exactly-once sweeps), [`run`] (the loop).
//! It opens no listening socket.
#![forbid(unsafe_code)]

pub mod audit_watch;
pub mod chain_scan;
pub mod cli;
pub mod commands;
pub mod crosscheck;
pub mod release;
pub mod report;
pub mod run;
pub mod settings;
pub mod setup;
pub mod spend;
pub mod staff_client;
pub mod sweeps;
