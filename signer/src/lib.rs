//! sluice-signer: holds a key, verifies PSBTs itself, and signs only within outflow
//! limits that live here and change only through signed officer commands.
//!
//! The path of a PSBT through the signer, each step a type the next one requires:
//! [`sd`]/[`qr_io`] read it; `sluice_shared::inspect` proves what it spends and pays (an
//! `InspectedPsbt`); [`signing::plan`] fixes the exact keys and scripts to sign;
//! [`reservation::reserve`] takes the outflow from the limits durably; [`signing::sign`]
//! signs; [`sd`]/[`qr_io`] write it out. Every decision is journaled in [`state`].
//! [`pipeline`] runs these steps, for the offline `sign` command and the online loop
//! alike.
#![forbid(unsafe_code)]

pub mod camera;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod coordinator_key;
pub mod framebuffer;
pub mod home;
pub mod keys;
#[cfg(feature = "online")]
pub mod online;
pub mod passphrase;
pub mod pipeline;
pub mod qr_io;
pub mod reservation;
pub mod review;
pub mod sd;
pub mod secret_xpriv;
pub mod self_pause;
pub mod signing;
pub mod state;
