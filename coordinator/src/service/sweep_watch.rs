//! The treasury side of the shadow's sweeps, inside the transaction that applies a block.
//!
//! The shadow system alone spends the deposit wallet; it sweeps into a treasury wallet at
//! receive indexes from [`SWEEP_INDEX_BASE`] up, derived from the treasury descriptor it
//! was configured with (never from anything the coordinator says). The coordinator hands
//! out receive addresses only below that base, and watches the next [`SWEEP_LOOKAHEAD`]
//! reserved indexes of every wallet that is not a deposit wallet: an output paying one is
//! recorded as that wallet's address and its coin, so a swept coin is a treasury coin the
//! processor can spend, as a coin paid to an address the coordinator issued would be.

use std::collections::HashMap;

use bitcoin::{Network, ScriptBuf};
use rusqlite::Connection;

use super::wallets::descriptor_of;
use super::ServiceError;
use crate::db::{deposits, wallets, DbError};
use crate::time::UnixTime;
use sluice_shared::descriptor::{Branch, SWEEP_LOOKAHEAD};

/// The reserved sweep addresses being watched: script → (wallet, index).
pub(super) struct SweepWatch {
    unseen: HashMap<ScriptBuf, (String, u32)>,
}

pub(super) fn watch(conn: &Connection, network: Network) -> Result<SweepWatch, ServiceError> {
    let mut unseen = HashMap::new();
    for record in wallets::list(conn)? {
        if deposits::find_wallet(conn, &record.name)?.is_some() {
            continue;
        }
        let descriptor = descriptor_of(&record)?;
        let start = wallets::next_sweep_index(conn, &record.name)?;
        // Unhardened indexes stop below 2^31.
        let end = start.saturating_add(SWEEP_LOOKAHEAD).min((1 << 31) - 1);
        for index in start..end {
            let address = descriptor
                .address(Branch::Receive, index, network)
                .map_err(|e| DbError::Corrupt(format!("wallet {}: {e}", record.name)))?;
            unseen.insert(address.script_pubkey(), (record.name.clone(), index));
        }
    }
    Ok(SweepWatch { unseen })
}

impl SweepWatch {
    /// The wallet and index of the reserved sweep address `script` pays, recording the
    /// address as the wallet's own (so later blocks and the coin's spend find it).
    pub(super) fn claim(
        &self,
        conn: &Connection,
        script: &ScriptBuf,
        network: Network,
        now: UnixTime,
    ) -> Result<Option<(String, Branch, u32)>, ServiceError> {
        let Some((wallet, index)) = self.unseen.get(script) else {
            return Ok(None);
        };
        let address = bitcoin::Address::from_script(script, network)
            .map_err(|e| DbError::Corrupt(format!("wallet {wallet} sweep address {index}: {e}")))?;
        wallets::insert_address(
            conn,
            wallet,
            Branch::Receive,
            *index,
            &address.to_string(),
            &hex::encode(script.as_bytes()),
            now,
        )?;
        tracing::info!(wallet, index, %address, "a payment to a reserved sweep address: the shadow swept into this wallet");
        Ok(Some((wallet.clone(), Branch::Receive, *index)))
    }
}
