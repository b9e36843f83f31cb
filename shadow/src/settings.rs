//! What the shadow was configured with at setup, and where it is kept.
//!
//! The two descriptors are registered in the signer state the shadow reuses (sealed with
//! a key from its seed, so an edit or a rollback is caught when it unlocks): the deposit
//! wallet under [`DEPOSIT_WALLET`] (its own keys: the signer code signs for it), the
//! treasury wallet under [`TREASURY_WALLET`] (public keys only: sweep destinations
//! derive from it). The other settings are one `shadow-configured` entry of the
//! hash-chained journal. Nothing here is ever fetched from the coordinator.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sluice_shared::descriptor::WalletDescriptor;
use sluice_signer::home::Home;
use sluice_signer::state::State;

/// The deposit wallet's name in the shadow's state.
pub const DEPOSIT_WALLET: &str = "deposit";
/// The treasury wallet's name in the shadow's state (a destination, never signed for).
pub const TREASURY_WALLET: &str = "treasury";
/// The journal event holding [`ShadowSettings`].
pub const CONFIGURED_EVENT: &str = "shadow-configured";

/// Fixed at `configure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowSettings {
    /// The deposit wallet's name on the coordinator (its ledger and addresses name it).
    pub coordinator_wallet: String,
    /// Confirmations after which the coordinator must have credited a deposit, and
    /// after which the shadow sweeps it.
    pub credit_confirmations: u32,
    /// The first block that can hold a deposit (the deposit wallet's birth).
    pub scan_from_height: u32,
    /// Receive indices watched above the highest the coordinator reports (at least the
    /// coordinator's gap limit).
    pub lookahead: u32,
    /// Blocks the coordinator's monitor may lag behind the shadow's node.
    pub lag_blocks: u32,
}

/// Everything the shadow acts on, read from its home.
#[derive(Debug, Clone)]
pub struct Configured {
    pub settings: ShadowSettings,
    pub deposit: WalletDescriptor,
    pub treasury: WalletDescriptor,
    pub network: bitcoin::Network,
}

/// The shadow's own database beside the signer state: sweeps and releases.
pub fn shadow_db(home: &Home) -> std::path::PathBuf {
    home.dir().join("shadow.sqlite")
}

/// Reads the configuration, checking the journal's hash chain first.
pub fn load(home: &Home) -> Result<Configured> {
    home.require_initialized()?;
    let state = State::open(&home.state())?;
    state
        .verify_journal()
        .context("the shadow's journal does not verify: its state was edited; restore it from a backup")?;
    load_from(&state)
}

pub fn load_from(state: &State) -> Result<Configured> {
    let entries = state.journal_entries()?;
    let entry = entries
        .iter()
        .rev()
        .find(|e| e.event == CONFIGURED_EVENT)
        .cloned()
        .ok_or_else(|| anyhow!("the shadow is not configured yet: run `sluice-shadow configure` first"))?;
    let settings: ShadowSettings =
        serde_json::from_value(entry.details).context("reading the shadow's settings from its journal")?;
    let wallets = state.wallets()?;
    let find = |name: &str| {
        wallets
            .iter()
            .find(|w| w.name == name)
            .map(|w| w.descriptor.clone())
            .ok_or_else(|| anyhow!("the shadow's state has no {name} wallet: run `sluice-shadow configure`"))
    };
    let deposit = find(DEPOSIT_WALLET)?;
    let treasury = find(TREASURY_WALLET)?;
    // Without the passphrase the state's seal cannot be checked, but the journal's chain
    // can: each wallet must be exactly as its registration was journaled.
    for (name, wallet) in [(DEPOSIT_WALLET, &deposit), (TREASURY_WALLET, &treasury)] {
        let journaled = entries
            .iter()
            .find(|e| e.event == "wallet-registered" && e.details["name"] == name)
            .ok_or_else(|| {
                anyhow!("the {name} wallet's registration is not in the journal: the state was edited")
            })?;
        if journaled.details["receive"] != wallet.receive().to_string()
            || journaled.details["change"] != wallet.change().to_string()
        {
            bail!("the {name} wallet differs from its journaled registration: the state was edited; restore it from a backup");
        }
    }
    if deposit == treasury {
        bail!("the deposit and treasury wallets are the same: the shadow's state was edited");
    }
    Ok(Configured {
        settings,
        deposit: WalletDescriptor::clone(&deposit),
        treasury: WalletDescriptor::clone(&treasury),
        network: state.network()?,
    })
}
