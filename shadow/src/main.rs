//! sluice-shadow: the independent deposit watcher and deposit-wallet sweeper.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sluice_shadow::cli::Cli::parse();
    match sluice_shadow::commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
