//! `init`, `id`, `xpub`.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use bitcoin::bip32::DerivationPath;
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
    if home.is_initialized() || home.state().exists() {
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
    if let Err(e) = State::create(&home.state(), network) {
        let _ = std::fs::remove_file(home.keystore());
        return Err(e);
    }
    println!(
        "Signer created in {} for {}.",
        home.dir().display(),
        network_name(network)
    );
    if let Some(words) = mnemonic {
        println!();
        println!("Write down these 24 words now, on paper, and keep them safe. They are shown only once");
        println!(
            "and restore this signer's keys (`init --from-mnemonic-file`). Anyone who has them has the keys."
        );
        println!();
        println!("{}", words.as_str());
        println!();
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
    let text = path.trim().trim_start_matches("m/");
    let derivation = DerivationPath::from_str(&format!("m/{text}"))
        .with_context(|| format!("{path:?} is not a derivation path like 84h/1h/0h"))?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let xpub = keys.xpub_at(&derivation)?;
    println!("[{}/{}]{}", keys.fingerprint(), text, xpub);
    Ok(())
}
