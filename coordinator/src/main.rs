//! sluice-coordinator: parses the command line and hands it to `cli`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sluice_coordinator::cli::main_from(std::env::args_os())
}
