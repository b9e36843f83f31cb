//! `init`, `xpub`, `configure`, `show`: the shadow's setup. The keystore, the state and
//! the wallet registration are the signer's own commands, run on the shadow's home.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bitcoin::bip32::Fingerprint;
use sluice_shared::descriptor::{Branch, WalletDescriptor, SWEEP_INDEX_BASE};
use sluice_signer::cli::{Cli as SignerCli, Command as SignerCommand, WalletCommand};
use sluice_signer::home::Home;
use sluice_signer::keys;
use sluice_signer::passphrase;
use sluice_signer::state::{self, State};

use crate::cli::ConfigureArgs;
use crate::settings::{self, ShadowSettings, CONFIGURED_EVENT, DEPOSIT_WALLET, TREASURY_WALLET};

/// Runs one of the signer's commands on the shadow's home.
pub fn signer_command(home: &Home, passphrase_file: Option<&Path>, command: SignerCommand) -> Result<()> {
    sluice_signer::commands::run(SignerCli {
        home: home.dir().to_path_buf(),
        passphrase_file: passphrase_file.map(Path::to_path_buf),
        command,
    })
}

/// The descriptor's key fingerprints must be exactly the ones the operator confirmed.
fn confirm_fingerprints(what: &str, wallet: &WalletDescriptor, confirmed: &[String]) -> Result<()> {
    let actual: BTreeSet<Fingerprint> = wallet.keys().iter().map(|k| k.fingerprint).collect();
    let mut given = BTreeSet::new();
    for text in confirmed {
        let fingerprint: Fingerprint = text
            .trim()
            .parse()
            .with_context(|| format!("--{what}-fingerprint {text:?} is not 8 hex digits"))?;
        given.insert(fingerprint);
    }
    if actual != given {
        let list =
            |set: &BTreeSet<Fingerprint>| set.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ");
        bail!(
            "the {what} descriptor's keys have fingerprints {} but {} were confirmed: check the descriptor with the key holders before going on",
            list(&actual),
            list(&given)
        );
    }
    Ok(())
}

pub fn configure(home: &Home, passphrase_file: Option<&Path>, args: &ConfigureArgs) -> Result<()> {
    home.require_initialized()?;
    let deposit = WalletDescriptor::parse(
        &args.deposit_descriptor,
        args.deposit_change_descriptor.as_deref(),
    )
    .context("the deposit descriptor")?;
    let treasury = WalletDescriptor::parse(
        &args.treasury_descriptor,
        args.treasury_change_descriptor.as_deref(),
    )
    .context("the treasury descriptor")?;
    confirm_fingerprints("deposit", &deposit, &args.deposit_fingerprints)?;
    confirm_fingerprints("treasury", &treasury, &args.treasury_fingerprints)?;
    if args.credit_confirmations == 0 {
        bail!("--credit-confirmations must be at least 1: the shadow sweeps only confirmed deposits");
    }
    {
        let state = State::open(&home.state())?;
        if settings::load_from(&state).is_ok() {
            bail!("this shadow is already configured (see `sluice-shadow show`): set up a new home to change its wallets");
        }
        deposit.check_network(state.network()?)?;
        treasury.check_network(state.network()?)?;
        let own = state.own_fingerprint()?;
        if let Some(foreign) = deposit.keys().iter().find(|k| k.fingerprint != own) {
            bail!(
                "the deposit descriptor holds key {} that is not this shadow's ({own}): the shadow alone must be able to spend the deposit wallet",
                foreign.fingerprint
            );
        }
        if treasury.keys().iter().any(|k| k.fingerprint == own) {
            bail!("the treasury descriptor holds this shadow's own key ({own}): the treasury must be a wallet the shadow cannot spend");
        }
    }
    // The signer's registration checks that each key is this seed's own xpub.
    signer_command(
        home,
        passphrase_file,
        SignerCommand::Wallet(WalletCommand::Register {
            name: DEPOSIT_WALLET.into(),
            descriptor: deposit.receive().to_string(),
            change_descriptor: Some(deposit.change().to_string()),
            change_gap: sluice_shared::inspect::ChangeIndexBound::DEFAULT_GAP,
        }),
    )?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let mut state = State::open_keyed(&home.state(), keys.state_key())?;
    state.add_wallet(TREASURY_WALLET, &treasury)?;
    let settings = ShadowSettings {
        coordinator_wallet: args.coordinator_wallet.clone(),
        credit_confirmations: args.credit_confirmations,
        scan_from_height: args.scan_from_height,
        lookahead: args.lookahead,
        lag_blocks: args.lag_blocks,
    };
    let tx = state.begin()?;
    state::journal(&tx, CONFIGURED_EVENT, serde_json::to_value(&settings)?)?;
    tx.commit()?;
    crate::sweeps::SweepBook::create(&settings::shadow_db(home))?;
    println!("Shadow configured in {}.", home.dir().display());
    show(home)
}

pub fn show(home: &Home) -> Result<()> {
    let configured = settings::load(home)?;
    let network = configured.network;
    let fingerprints = |w: &WalletDescriptor| {
        w.keys()
            .iter()
            .map(|k| k.fingerprint.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let address_at = |w: &WalletDescriptor, index: u32| {
        w.address(Branch::Receive, index, network)
            .map(|a| a.to_string())
            .unwrap_or_else(|e| format!("<{e}>"))
    };
    let s = &configured.settings;
    println!(
        "Deposit wallet ({}): keys {}",
        configured.deposit.wallet_id(),
        fingerprints(&configured.deposit)
    );
    println!("  receive: {}", configured.deposit.receive());
    println!("  first address: {}", address_at(&configured.deposit, 0));
    println!(
        "Treasury wallet ({}): keys {}",
        configured.treasury.wallet_id(),
        fingerprints(&configured.treasury)
    );
    println!("  receive: {}", configured.treasury.receive());
    println!(
        "  first sweep address (receive index {SWEEP_INDEX_BASE}): {}",
        address_at(&configured.treasury, SWEEP_INDEX_BASE)
    );
    println!(
        "Coordinator wallet {:?}; credit after {} confirmations; scan from height {}; lookahead {}; monitor lag allowed {} block(s)",
        s.coordinator_wallet, s.credit_confirmations, s.scan_from_height, s.lookahead, s.lag_blocks
    );
    Ok(())
}
