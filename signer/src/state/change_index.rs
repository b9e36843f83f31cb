//! How far up its change branch each wallet's change may go: the gap set at registration
//! and the highest change index this signer has signed for (see
//! `sluice_shared::inspect::ChangeIndexBound`). Kept in `meta`, one key per wallet.

use rusqlite::{Connection, Transaction};
use sluice_shared::inspect::ChangeIndexBound;

use super::{corrupt, journal, meta, set_meta, State, StateError};

fn gap_key(wallet: &str) -> String {
    format!("change_gap:{wallet}")
}

fn highest_key(wallet: &str) -> String {
    format!("change_highest_signed:{wallet}")
}

fn read_index(conn: &Connection, key: &str) -> Result<Option<u32>, StateError> {
    meta(conn, key)?
        .map(|text| {
            text.parse::<u32>()
                .map_err(|_| corrupt(format!("{key} holds {text:?}, not an index")))
        })
        .transpose()
}

impl State {
    /// The bound inspection applies to `wallet`'s change now.
    pub fn change_bound(&self, wallet: &str) -> Result<ChangeIndexBound, StateError> {
        change_bound(&self.conn, wallet)
    }
}

/// The bound inspection applies to `wallet`'s change now.
pub fn change_bound(conn: &Connection, wallet: &str) -> Result<ChangeIndexBound, StateError> {
    Ok(ChangeIndexBound {
        highest_known: read_index(conn, &highest_key(wallet))?,
        gap: read_index(conn, &gap_key(wallet))?.unwrap_or(ChangeIndexBound::DEFAULT_GAP),
    })
}

/// Sets `wallet`'s gap (at registration), journaled.
pub fn set_change_gap(tx: &Transaction<'_>, wallet: &str, gap: u32) -> Result<(), StateError> {
    set_meta(tx, &gap_key(wallet), &gap.to_string())?;
    journal(
        tx,
        "change-gap-set",
        serde_json::json!({ "wallet": wallet, "gap": gap }),
    )?;
    Ok(())
}

/// Raises `wallet`'s highest signed change index to `index` (never lowers it).
pub fn record_signed_change(tx: &Transaction<'_>, wallet: &str, index: u32) -> Result<(), StateError> {
    let key = highest_key(wallet);
    if read_index(tx, &key)?.is_some_and(|highest| highest >= index) {
        return Ok(());
    }
    set_meta(tx, &key, &index.to_string())
}
