//! The Sluice coordinator: withdrawal intake and approval, batching, signing sessions,
//! broadcasting, chain monitoring, and the simnet chain used for development and tests.
//!
//! Layout: `rules` decides (pure), `db` stores, `service` joins them in transactions for
//! both front ends, `api` (HTTP) and `cli`.
#![forbid(unsafe_code)]

pub mod api;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod db;
pub mod fuzz_entry;
pub mod rules;
pub mod run;
pub mod service;
pub mod simnet;
pub mod time;
pub mod wallet_spec;
