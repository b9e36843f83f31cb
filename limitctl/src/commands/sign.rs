//! `sign`: add this officer's signature to a command file, in place.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use bitcoin::secp256k1::Secp256k1;
use rand::rngs::OsRng;
use rand::RngCore;
use sluice_shared::limit_command::officer_fingerprint;

use crate::cli::SignArgs;
use crate::officer_key::{self, Home};
use crate::utc::format_utc;

fn confirm(question: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("not signing without confirmation: there is no terminal to ask on; review the command above and pass --yes");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub fn sign(home: &Home, passphrase_file: Option<&Path>, args: &SignArgs) -> Result<()> {
    let path = &args.command;
    let mut signed = crate::command_file::read(path)?;
    let now = crate::clock::unix_now();
    println!("Command {}:", path.display());
    print!("{}", super::summary(&signed, now));
    let existing: Vec<String> = signed.signatures.iter().map(|s| s.fingerprint_hex()).collect();
    if existing.is_empty() {
        println!("  signatures:     none yet");
    } else {
        println!("  signed by:      {}", existing.join(", "));
    }
    if now > signed.command.not_after {
        eprintln!(
            "WARNING: this command expired at {}: no signer will accept it; create a new one",
            format_utc(signed.command.not_after)
        );
    }

    let passphrase = crate::passphrase::read(passphrase_file, false)?;
    let key = officer_key::unlock(home, &passphrase)?;
    if signed
        .signatures
        .iter()
        .any(|s| s.fingerprint == officer_fingerprint(&key.public_key()))
    {
        bail!(
            "you (officer {}) have already signed this command; pass it to the next officer",
            key.fingerprint()
        );
    }
    if !args.yes && !confirm(&format!("Sign this as officer {}?", key.fingerprint()))? {
        bail!("not signed: you declined");
    }
    let mut aux = [0u8; 32];
    OsRng.fill_bytes(&mut aux);
    signed.sign(key.keypair(), aux)?;
    // Check our own work before it leaves this machine on paper.
    let secp = Secp256k1::verification_only();
    let ours = signed
        .signatures
        .last()
        .context("the signature just added is missing")?;
    if !signed.signature_valid(&secp, ours, &key.public_key()) {
        bail!("the new signature does not verify; nothing was written");
    }
    crate::command_file::write(path, &signed, false)?;
    let all: Vec<String> = signed.signatures.iter().map(|s| s.fingerprint_hex()).collect();
    println!(
        "Signed as officer {}. {} now carries {} signature(s): {}",
        key.fingerprint(),
        path.display(),
        all.len(),
        all.join(", ")
    );
    Ok(())
}
