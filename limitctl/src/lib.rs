//! limitctl: the security officers' tool. Officers keep a BIP340 key in an encrypted
//! keystore on their own offline machine, create limit commands for a signer, sign them
//! in turn, and print the signed command as a QR sheet to be sealed in an envelope.
//!
//! The command format and its verification live in `sluice_shared::limit_command`;
//! this crate holds only the officer's I/O: keys on disk, command files, sheets.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod command_file;
pub mod commands;
pub mod officer_key;
pub mod passphrase;
pub mod sheet;
pub mod utc;
