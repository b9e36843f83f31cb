//! `identity create|show`: the coordinator's identity key, whose public key every online
//! signer is given at setup (`sluice-signer coordinator trust KEY`). `init` creates it too.

use anyhow::Result;
use clap::Subcommand;
use rand::rngs::OsRng;

use super::Cli;
use crate::identity::CoordinatorIdentity;

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create the identity key beside the database (for a database made before identity
    /// keys; `init` creates it). Never replaces an existing key.
    Create,
    /// Print the public key to give every online signer; the last line is the bare key.
    Show,
}

pub fn identity(cli: &Cli, command: &IdentityCommand) -> Result<()> {
    let path = CoordinatorIdentity::path_for(&cli.db);
    let identity = match command {
        IdentityCommand::Create => {
            let identity = CoordinatorIdentity::create(&path, &mut OsRng)?;
            outln!(
                "Created the coordinator identity key {} (0600; back it up with the database).",
                path.display()
            );
            identity
        }
        IdentityCommand::Show if cli.json => {
            let identity = CoordinatorIdentity::load(&path)?;
            return super::output::print_json(&serde_json::json!({
                "public_key": identity.public_key().to_string(),
                "key_file": path.display().to_string(),
            }));
        }
        IdentityCommand::Show => CoordinatorIdentity::load(&path)?,
    };
    print_public_key(&identity)
}

/// At `init`: creates the key unless one is already there (a re-created database keeps
/// the identity its signers trust), and prints it.
pub fn create_at_init(cli: &Cli) -> Result<()> {
    let path = CoordinatorIdentity::path_for(&cli.db);
    let identity = if path.symlink_metadata().is_ok() {
        outln!("Keeping the coordinator identity key {}.", path.display());
        CoordinatorIdentity::load(&path)?
    } else {
        let identity = CoordinatorIdentity::create(&path, &mut OsRng)?;
        outln!(
            "Created the coordinator identity key {} (0600; back it up with the database).",
            path.display()
        );
        identity
    };
    print_public_key(&identity)
}

fn print_public_key(identity: &CoordinatorIdentity) -> Result<()> {
    outln!("Give online signers this coordinator key (`sluice-signer coordinator trust KEY`):");
    outln!("{}", identity.public_key());
    Ok(())
}
