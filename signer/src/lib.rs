//! sluice-signer: holds a key, verifies PSBTs itself, and signs only within outflow
//! limits that live here and change only through signed officer commands.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod commands;
pub mod home;
pub mod keys;
pub mod passphrase;
pub mod psbt_io;
pub mod reservation;
pub mod review;
pub mod signing;
pub mod state;
