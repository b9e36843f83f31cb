//! The limits, reservations and applied limit-command ids: the records every signing
//! and every limit command reads and writes inside one transaction.

use bitcoin::Amount;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sluice_shared::asset::Asset;
use sluice_shared::limiter::FlowLimiter;

use super::{amount, corrupt, sats, AssetLimits, StateError};
use crate::clock;

/// The stored limits of `asset`, read inside a transaction or outside.
pub fn limits_in(conn: &Connection, asset: Asset) -> Result<Option<AssetLimits>, StateError> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT state, max_fee_sat FROM limiters WHERE asset = ?1",
            [asset.ticker()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(state, max_fee)| {
        Ok(AssetLimits {
            limiter: serde_json::from_str(&state)
                .map_err(|e| corrupt(format!("the stored {asset} limiter: {e}")))?,
            max_fee: amount(max_fee)?,
        })
    })
    .transpose()
}

pub fn store_limiter(tx: &Transaction<'_>, asset: Asset, limiter: &FlowLimiter) -> Result<(), StateError> {
    let text = serde_json::to_string(limiter).map_err(|e| corrupt(e.to_string()))?;
    let changed = tx.execute(
        "UPDATE limiters SET state = ?1 WHERE asset = ?2",
        params![text, asset.ticker()],
    )?;
    if changed != 1 {
        return Err(StateError::NoLimits(asset));
    }
    Ok(())
}

pub fn insert_limiter(
    tx: &Transaction<'_>,
    asset: Asset,
    limiter: &FlowLimiter,
    max_fee: Amount,
) -> Result<(), StateError> {
    let text = serde_json::to_string(limiter).map_err(|e| corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO limiters (asset, state, max_fee_sat) VALUES (?1, ?2, ?3)",
        params![asset.ticker(), text, sats(max_fee)?],
    )?;
    Ok(())
}

pub fn any_reservation(conn: &Connection) -> Result<bool, StateError> {
    Ok(conn
        .query_row("SELECT 1 FROM reservations LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn insert_reservation(
    tx: &Transaction<'_>,
    txid: &str,
    wallet: &str,
    asset: Asset,
    outflow: Amount,
) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO reservations (txid, wallet, asset, outflow_sat, reserved_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![txid, wallet, asset.ticker(), sats(outflow)?, clock::unix_now()],
    )?;
    Ok(())
}

pub fn reservation_exists(conn: &Connection, txid: &str) -> Result<bool, StateError> {
    Ok(conn
        .query_row("SELECT 1 FROM reservations WHERE txid = ?1", [txid], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn command_applied(conn: &Connection, command_id: &str) -> Result<bool, StateError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM applied_commands WHERE command_id = ?1",
            [command_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn record_command(tx: &Transaction<'_>, command_id: &str, description: &str) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO applied_commands (command_id, applied_at, description) VALUES (?1, ?2, ?3)",
        params![command_id, clock::unix_now(), description],
    )?;
    Ok(())
}
