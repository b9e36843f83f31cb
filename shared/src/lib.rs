//! Sluice's shared core: the rules both sides of the system must compute identically.
//!
//! Everything here is pure: no files, sockets or clocks. Time, randomness and bytes read
//! from outside are passed in as values, so every money-deciding rule is testable with
//! plain unit and property tests.
#![forbid(unsafe_code)]

pub mod api;
pub mod asset;
pub mod camera_frames;
pub mod consensus;
pub mod deposit_api;
pub mod derived_keys;
pub mod descriptor;
pub mod extended_key;
pub mod finalize;
pub mod fountain;
pub mod fuzz_entry;
pub mod identity;
pub mod inspect;
pub mod journal;
pub mod keystore;
pub mod keystore_policy;
pub mod limit_command;
pub mod limiter;
pub mod network;
pub mod parallel;
pub mod psbt_builder;
pub mod psbt_v2;
pub mod qr;
pub mod qr_animation;
pub mod qr_scan;
pub mod rpc_codes;
pub mod sd_card;
pub mod secp;
pub mod self_pause;
pub mod signer_api;
pub mod tor_client_key;
pub mod ur_psbt;
pub mod video_frames;

pub use bitcoin;
pub use miniscript;
