//! Shared by the coordinator's integration tests that drive the real binary.

use std::path::Path;
use std::process::{Command, Output};

/// The built `sluice-coordinator`.
pub const BIN: &str = env!("CARGO_BIN_EXE_sluice-coordinator");

/// Runs `sluice-coordinator --db DB ARGS` as the holder of `token` (None: no token at all),
/// with neither `SLUICE_TOKEN` nor `SLUICE_DB` inherited from the test's environment.
pub fn run_cli(db: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_DB");
    if let Some(token) = token {
        command.env("SLUICE_TOKEN", token);
    }
    command.output().expect("running sluice-coordinator")
}
