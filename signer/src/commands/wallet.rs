//! `wallet register`, `wallet list`.

use std::path::Path;

use anyhow::{bail, Result};
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::inspect::ChangeIndexBound;

use crate::home::Home;
use crate::keys::{self, path_text};
use crate::passphrase;
use crate::state::{self, State};

/// Registers a wallet only if it holds this signer's own key: a key with this signer's
/// master fingerprint whose xpub is the one this signer derives at that origin path. A
/// key that claims the fingerprint with another xpub is refused outright: it would make
/// the signer believe a wallet is its own when it is not.
pub fn register(
    home: &Home,
    passphrase_file: Option<&Path>,
    name: &str,
    descriptor: &str,
    change: Option<&str>,
    change_gap: u32,
) -> Result<()> {
    home.require_initialized()?;
    let name = name.trim();
    if name.is_empty() {
        bail!("the wallet name must not be empty");
    }
    let wallet = WalletDescriptor::parse(descriptor, change)?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let mut state = State::open_keyed(&home.state(), keys.state_key())?;
    wallet.check_network(state.network()?)?;
    let own = keys.fingerprint();
    let mine: Vec<_> = wallet
        .keys()
        .into_iter()
        .filter(|k| k.fingerprint == own)
        .collect();
    if mine.is_empty() {
        bail!("this wallet does not contain this signer's key (fingerprint {own}): refusing to register it");
    }
    for key in &mine {
        if keys.xpub_at(&key.origin_path)? != key.xpub {
            bail!(
                "the wallet names this signer's fingerprint {own} but its xpub at {} is not this signer's: refusing to register it",
                path_text(&key.origin_path)
            );
        }
    }
    state.add_wallet(name, &wallet)?;
    if change_gap != ChangeIndexBound::DEFAULT_GAP {
        let tx = state.begin()?;
        state::set_change_gap(&tx, name, change_gap)?;
        tx.commit()?;
    }
    println!("Registered wallet {name} ({})", wallet.wallet_id());
    println!("  receive: {}", wallet.receive());
    println!("  change:  {}", wallet.change());
    println!("  change may sit up to {change_gap} indices above the highest change index signed");
    Ok(())
}

pub fn list(home: &Home) -> Result<()> {
    home.require_initialized()?;
    let state = State::open(&home.state())?;
    let wallets = state.wallets()?;
    if wallets.is_empty() {
        println!("No wallets registered. Use `sluice-signer wallet register`.");
    }
    for w in wallets {
        println!("{}  {}", w.name, w.descriptor.wallet_id());
        println!("  receive: {}", w.descriptor.receive());
        println!("  change:  {}", w.descriptor.change());
    }
    Ok(())
}
