//! Dispatches the command line.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use sluice_signer::cli::Command as SignerCommand;
use sluice_signer::home::Home;

use crate::cli::{Cli, Command};
use crate::setup::{self, signer_command};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let home = Home::new(cli.home);
    let passphrase_file = cli.passphrase_file.as_deref();
    match cli.command {
        Command::Init(args) => {
            signer_command(&home, passphrase_file, SignerCommand::Init(args))?;
            println!("Next: give the coordinator `sluice-shadow xpub --path ...` for the deposit wallet, then `sluice-shadow configure`.");
        }
        Command::Id => signer_command(&home, passphrase_file, SignerCommand::Id)?,
        Command::Xpub { path } => signer_command(&home, passphrase_file, SignerCommand::Xpub { path })?,
        Command::Configure(args) => setup::configure(&home, passphrase_file, &args)?,
        Command::Show => setup::show(&home)?,
        Command::Limits(command) => signer_command(&home, passphrase_file, SignerCommand::Limits(command))?,
        Command::Journal(command) => signer_command(&home, passphrase_file, SignerCommand::Journal(command))?,
        Command::Release(args) => crate::release::release(&home, passphrase_file, &args)?,
        Command::AuditHead => {
            let kept = crate::audit_watch::KeptHeads::open(&crate::settings::shadow_db(&home))?;
            let head = kept
                .newest()?
                .context("no audit head kept yet: `sluice-shadow run` fetches one on every check")?;
            println!("{}", serde_json::to_string_pretty(&head)?);
        }
        Command::Run(args) => return crate::run::run(&home, passphrase_file, &args),
    }
    Ok(ExitCode::SUCCESS)
}
