//! `coordinator trust|show`: the coordinator identity key the online signer checks every
//! reply against. Setting or replacing it is journaled.

use anyhow::Result;
use serde_json::json;

use crate::coordinator_key;
use crate::home::Home;
use crate::state::{self, State};

pub fn trust(home: &Home, key: &str, replace: bool) -> Result<()> {
    home.require_initialized()?;
    let key = coordinator_key::parse(key)?;
    let before = coordinator_key::load(home).ok();
    coordinator_key::store(home, &key, replace)?;
    let mut state = State::open(&home.state())?;
    let tx = state.begin()?;
    state::journal(
        &tx,
        "coordinator-trusted",
        json!({
            "key": key.to_string(),
            "replaces": before.map(|k| k.to_string()),
        }),
    )?;
    tx.commit()?;
    println!("This signer now trusts coordinator key {key}.");
    Ok(())
}

pub fn show(home: &Home) -> Result<()> {
    home.require_initialized()?;
    println!("{}", coordinator_key::load(home)?);
    Ok(())
}
