//! The limits, reservations and applied limit-command ids: the records every signing
//! and every limit command reads and writes inside one transaction.

use std::time::Duration;

use bitcoin::Amount;
use rusqlite::{params, Connection, OptionalExtension};
use sluice_shared::asset::Asset;
use sluice_shared::limiter::FlowLimiter;
use sluice_shared::self_pause::SelfPauseRule;

use super::{amount, corrupt, sats, AssetLimits, Change, StateError};
use crate::clock;
use crate::reservation::SpendKey;

/// The stored limits of `asset`, read inside a transaction or outside.
pub fn limits_in(conn: &Connection, asset: Asset) -> Result<Option<AssetLimits>, StateError> {
    let row: Option<(String, i64, i64, i64)> = conn
        .query_row(
            "SELECT state, max_fee_sat, refusals_before_pause, refusal_window_s FROM limiters WHERE asset = ?1",
            [asset.ticker()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(state, max_fee, refusals, window)| {
        Ok(AssetLimits {
            limiter: serde_json::from_str(&state)
                .map_err(|e| corrupt(format!("the stored {asset} limiter: {e}")))?,
            max_fee: amount(max_fee)?,
            self_pause: SelfPauseRule {
                refusals: u32::try_from(refusals).map_err(|_| corrupt("the self-pause refusal count"))?,
                window: Duration::from_secs(
                    u64::try_from(window).map_err(|_| corrupt("the self-pause window"))?,
                ),
            },
        })
    })
    .transpose()
}

pub fn store_limiter(tx: &Change<'_>, asset: Asset, limiter: &FlowLimiter) -> Result<(), StateError> {
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
    tx: &Change<'_>,
    asset: Asset,
    limiter: &FlowLimiter,
    max_fee: Amount,
    self_pause: SelfPauseRule,
) -> Result<(), StateError> {
    tx.require_keys()?;
    let text = serde_json::to_string(limiter).map_err(|e| corrupt(e.to_string()))?;
    let window =
        i64::try_from(self_pause.window.as_secs()).map_err(|_| corrupt("a self-pause window beyond i64"))?;
    tx.execute(
        "INSERT INTO limiters (asset, state, max_fee_sat, refusals_before_pause, refusal_window_s) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![asset.ticker(), text, sats(max_fee)?, self_pause.refusals, window],
    )?;
    Ok(())
}

pub fn any_reservation(conn: &Connection) -> Result<bool, StateError> {
    Ok(conn
        .query_row("SELECT 1 FROM reservations LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

/// What a reservation reserved, as stored. `fee` and `digest` are `None` for
/// reservations made before schema 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReservation {
    pub wallet: String,
    pub outflow: Amount,
    pub fee: Option<Amount>,
    pub digest: Option<String>,
}

#[allow(clippy::too_many_arguments)] // one column each
pub fn insert_reservation(
    tx: &Change<'_>,
    txid: &str,
    wallet: &str,
    asset: Asset,
    outflow: Amount,
    fee: Amount,
    digest: &str,
) -> Result<(), StateError> {
    tx.require_keys()?;
    tx.execute(
        "INSERT INTO reservations (txid, wallet, asset, outflow_sat, reserved_at, fee_sat, outflow_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![txid, wallet, asset.ticker(), sats(outflow)?, clock::unix_now(), sats(fee)?, digest],
    )?;
    Ok(())
}

/// Records what makes the reservation of `txid` comparable with a fee bump: its inputs
/// and external outputs ([`SpendKey`]), what it took from the limits (`charged`: the full
/// outflow, or only the fee increase of a replacement) and which txid it replaces.
pub fn insert_spend_key(
    tx: &Change<'_>,
    txid: &str,
    key: &SpendKey,
    charged: Amount,
    replaces: Option<&str>,
) -> Result<(), StateError> {
    tx.require_keys()?;
    tx.execute(
        "INSERT INTO reservation_spends (txid, inputs_digest, externals_digest, charged_sat, replaces_txid) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![txid, key.inputs_digest, key.externals_digest, sats(charged)?, replaces],
    )?;
    Ok(())
}

/// Among `wallet`'s reservations with this spend key, the one with the highest fee (the
/// most the group of conflicting transactions can pay), and that fee.
pub fn highest_fee_with_key(
    conn: &Connection,
    wallet: &str,
    key: &SpendKey,
) -> Result<Option<(String, Amount)>, StateError> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT r.txid, r.fee_sat FROM reservation_spends s JOIN reservations r ON r.txid = s.txid \
             WHERE r.wallet = ?1 AND s.inputs_digest = ?2 AND s.externals_digest = ?3 AND r.fee_sat IS NOT NULL \
             ORDER BY r.fee_sat DESC, r.txid LIMIT 1",
            params![wallet, key.inputs_digest, key.externals_digest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(txid, fee)| Ok((txid, amount(fee)?))).transpose()
}

/// The reservation of `txid`, if there is one.
pub fn reservation_of(conn: &Connection, txid: &str) -> Result<Option<StoredReservation>, StateError> {
    let row: Option<(String, i64, Option<i64>, Option<String>)> = conn
        .query_row(
            "SELECT wallet, outflow_sat, fee_sat, outflow_digest FROM reservations WHERE txid = ?1",
            [txid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(wallet, outflow, fee, digest)| {
        Ok(StoredReservation {
            wallet,
            outflow: amount(outflow)?,
            fee: fee.map(amount).transpose()?,
            digest,
        })
    })
    .transpose()
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

/// Records an applied command; `kind` and `issued_at` order the commands of one kind.
pub fn record_command(
    tx: &Change<'_>,
    command_id: &str,
    description: &str,
    asset: Asset,
    kind: Option<&str>,
    issued_at: i64,
) -> Result<(), StateError> {
    tx.require_keys()?;
    tx.execute(
        "INSERT INTO applied_commands (command_id, applied_at, description, asset, kind, issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![command_id, clock::unix_now(), description, asset.ticker(), kind, issued_at],
    )?;
    Ok(())
}

/// The issue time (`not_before`) of the newest applied command of `kind` for `asset`.
pub fn last_issued(conn: &Connection, asset: Asset, kind: &str) -> Result<Option<i64>, StateError> {
    Ok(conn.query_row(
        "SELECT MAX(issued_at) FROM applied_commands WHERE asset = ?1 AND kind = ?2",
        params![asset.ticker(), kind],
        |r| r.get(0),
    )?)
}

fn self_paused_key(asset: Asset) -> String {
    format!("self_paused_{}", asset.ticker())
}

/// Why `asset` is self-paused (issue 8 item 7), if it is.
pub fn self_paused(conn: &Connection, asset: Asset) -> Result<Option<String>, StateError> {
    super::meta(conn, &self_paused_key(asset))
}

/// Marks `asset` self-paused with `why`, or clears the mark (`None`, on resume).
pub fn set_self_paused(tx: &Change<'_>, asset: Asset, why: Option<&str>) -> Result<(), StateError> {
    tx.require_keys()?;
    match why {
        Some(why) => super::set_meta(tx, &self_paused_key(asset), why),
        None => {
            tx.execute("DELETE FROM meta WHERE key = ?1", [self_paused_key(asset)])?;
            Ok(())
        }
    }
}
