//! `keygen` and `pubkey`.

use std::path::Path;

use anyhow::Result;
use sluice_shared::keystore::KdfParams;

use crate::cli::KeygenArgs;
use crate::officer_key::{self, Home, OfficerKey};

/// The fingerprint, then the bare public key as the last line (for scripts, like
/// `sluice-signer id`).
fn show(key: &OfficerKey) {
    println!("Fingerprint: {}", key.fingerprint());
    println!("{}", key.public_key());
}

pub fn keygen(home: &Home, passphrase_file: Option<&Path>, args: &KeygenArgs) -> Result<()> {
    // Checked before asking for a passphrase twice, and again (atomically) when writing.
    if home.key_file().symlink_metadata().is_ok() {
        anyhow::bail!(
            "{} already exists: refusing to overwrite an officer key (signers may trust it); \
             use another --home for a new key",
            home.key_file().display()
        );
    }
    let kdf = if args.dangerous_weak_kdf {
        eprintln!("WARNING: --dangerous-weak-kdf: this key is protected by a trivially weak key derivation; use it for tests only.");
        KdfParams::DANGEROUS_WEAK_FOR_TESTS
    } else {
        KdfParams::RECOMMENDED
    };
    let passphrase = crate::passphrase::read(passphrase_file, true)?;
    let key = officer_key::generate(home, &passphrase, kdf)?;
    println!("New officer key sealed in {}", home.key_file().display());
    println!("Give the public key below to each signer's operator (`sluice-signer init --officer-key HEX`).");
    println!(
        "Back up {} and remember its passphrase: without both, this key is gone.",
        home.key_file().display()
    );
    show(&key);
    Ok(())
}

pub fn pubkey(home: &Home, passphrase_file: Option<&Path>) -> Result<()> {
    let passphrase = crate::passphrase::read(passphrase_file, false)?;
    let key = officer_key::unlock(home, &passphrase)?;
    show(&key);
    Ok(())
}
