//! sluice-coordinator: parses the command line and hands it to `cli`.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    sluice_coordinator::cli::main(sluice_coordinator::cli::Cli::parse())
}
