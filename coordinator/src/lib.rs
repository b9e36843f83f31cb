//! The Sluice coordinator: withdrawal intake and approval, batching, signing sessions,
//! broadcasting and chain monitoring. The simnet chain used for development and tests is its
//! own crate, `sluice-simnet`.
//!
//! Layout: `rules` decides (pure), `db` stores, `service` joins them in transactions for
//! both front ends, `api` (HTTP) and `cli`.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod backup;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod console;
pub mod db;
pub mod fuzz_entry;
pub mod identity;
pub mod key_file;
#[cfg(feature = "tor")]
pub mod onion;
pub mod rules;
pub mod run;
pub mod service;
pub mod staff_client;
pub mod time;
pub mod totp;
pub mod wallet_spec;
pub mod webhook;
