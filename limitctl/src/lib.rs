//! limitctl: security officers create, sign, print and check limit commands on their own
//! offline machines.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod command_file;
pub mod commands;
pub mod officer_key;
pub mod pdf;
pub mod sheet;
