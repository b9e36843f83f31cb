//! One executable in three roles: `EXE coordinator ARGS` runs the code of
//! `sluice-coordinator`, `EXE signer ARGS` that of `sluice-signer`, `EXE shadow ARGS`
//! that of `sluice-shadow`, so the devnet and the
//! chaos run start their components as real, separate processes without building the
//! other binaries first ([`crate::processes::Programs::this_executable`]).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Runs the coordinator or signer role when the first argument asks for one; `None`
/// when this process is the devnet (or chaos) driver itself.
pub fn dispatch() -> Option<ExitCode> {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("coordinator") => {
            argv.remove(1);
            argv[0] = "sluice-coordinator".into();
            Some(sluice_coordinator::cli::main_from(argv))
        }
        Some("signer") => {
            argv.remove(1);
            argv[0] = "sluice-signer".into();
            Some(
                match sluice_signer::commands::run(sluice_signer::cli::Cli::parse_from(argv)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("error: {error:#}");
                        ExitCode::FAILURE
                    }
                },
            )
        }
        Some("shadow") => {
            argv.remove(1);
            argv[0] = "sluice-shadow".into();
            Some(
                match sluice_shadow::commands::run(sluice_shadow::cli::Cli::parse_from(argv)) {
                    Ok(code) => code,
                    Err(error) => {
                        eprintln!("error: {error:#}");
                        ExitCode::FAILURE
                    }
                },
            )
        }
        _ => None,
    }
}
