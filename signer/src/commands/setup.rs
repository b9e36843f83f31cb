//! `init`, `id`, `xpub`.

use std::path::Path;

use anyhow::{Context, Result};
use sluice_shared::identity::officer_key_fingerprint;
use sluice_shared::keystore::KdfParams;
use sluice_shared::network::{network_name, parse_network};
use zeroize::Zeroizing;

use crate::cli::InitArgs;
use crate::home::Home;
use crate::keys::{self, SeedSource};
use crate::passphrase;
use crate::state::State;

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    ))
}

pub fn init(home: &Home, passphrase_file: Option<&Path>, args: &InitArgs) -> Result<()> {
    let network = parse_network(&args.network)?;
    if home.holds_a_signer() {
        anyhow::bail!(
            "{} already holds a signer: refusing to overwrite it",
            home.dir().display()
        );
    }
    let source = match (&args.from_mnemonic_file, &args.from_xprv_file) {
        (Some(path), _) => SeedSource::Mnemonic(read_secret_file(path)?),
        (None, Some(path)) => SeedSource::Xprv(read_secret_file(path)?),
        (None, None) => SeedSource::Generate,
    };
    let passphrase = passphrase::read(passphrase_file, true)?;
    let kdf = if args.dangerous_weak_kdf {
        KdfParams::DANGEROUS_WEAK_FOR_TESTS
    } else {
        KdfParams::RECOMMENDED
    };
    // Before anything is written: a refused keystore leaves no home behind.
    keys::check_new_keystore(network, &kdf, &passphrase)?;
    home.create()?;
    let (keys, mnemonic) = keys::create(
        home,
        network,
        source,
        &args.officer_keys,
        args.officer_threshold,
        &passphrase,
        kdf,
    )?;
    if let Err(e) = State::create(&home.state(), network, keys.fingerprint(), keys.state_key()) {
        // Leave no keystore without its state: `init` can then simply be run again.
        let _ = std::fs::remove_file(home.keystore());
        let _ = std::fs::remove_file(crate::state::anchor_path(&home.state()));
        return Err(e.into());
    }
    println!(
        "Signer created in {} for {}.",
        home.dir().display(),
        network_name(network)
    );
    if let Some(words) = mnemonic {
        println!();
        println!("WRITE DOWN THESE 24 WORDS NOW, on paper, and keep them safe and secret.");
        println!("They are shown only this once. They restore this signer's keys");
        println!("(`init --from-mnemonic-file`); anyone who has them has the keys.");
        println!();
        println!("{}", words.as_str());
        println!();
    }
    if args.dangerous_weak_kdf {
        println!("WARNING: the keystore is sealed with --dangerous-weak-kdf (for tests and demos only):");
        println!("a stolen keystore file can be brute-forced quickly. Never hold real funds with it.");
    }
    println!("Master fingerprint: {}", keys.fingerprint());
    if keys.officers().keys.is_empty() {
        println!(
            "WARNING: no officer keys were given, so no limit command can ever raise this signer's limits."
        );
    } else {
        println!(
            "Limit commands need {} of these officer keys: {}",
            keys.officers().threshold,
            keys.officers()
                .keys
                .iter()
                .map(officer_key_fingerprint)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("Signer id: {}", keys.signer_id()?);
    Ok(())
}

pub fn id(home: &Home, passphrase_file: Option<&Path>) -> Result<()> {
    home.require_initialized()?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    println!("Network:            {}", network_name(keys.network()));
    println!("Master fingerprint: {}", keys.fingerprint());
    println!("Identity key:       {}", keys.identity_key()?);
    #[cfg(feature = "tor")]
    println!(
        "Tor client key:     {}",
        sluice_tor::DiscoveryKey::from_bytes(*keys.tor_discovery_secret()?).public_key()
    );
    println!(
        "Officer threshold:  {} of {}",
        keys.officers().threshold,
        keys.officers().keys.len()
    );
    println!("{}", keys.signer_id()?);
    Ok(())
}

pub fn xpub(home: &Home, passphrase_file: Option<&Path>, path: &str) -> Result<()> {
    home.require_initialized()?;
    let derivation = keys::parse_path(path)?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    println!("{}", keys.key_expression(&derivation)?);
    Ok(())
}
