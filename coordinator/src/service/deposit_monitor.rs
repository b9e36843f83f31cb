//! The monitor's deposit side, inside the transaction that applies a block (or rolls back
//! a reorg), so the deposit ledger always matches the monitor's stored tip:
//! - every output paying a deposit address is recorded once per outpoint, with the
//!   customer the address was issued to; a payment to a deposit-wallet address issued to
//!   no one (derived within the gap window past the last issued index) is recorded as
//!   `unassigned`;
//! - the tagging rules run when a deposit is first seen; a tagged deposit is quarantined;
//! - pending deposits with enough confirmations (the wallet's setting) are credited;
//! - a reorg that takes a deposit's block away reverses it (and its credit), with
//!   history; seen again in the new chain, it is pending again.
//!
//! Coinbase outputs are not deposits (a customer does not mine to their deposit address,
//! and a coinbase cannot move for 100 blocks).

use std::collections::HashMap;

use bitcoin::{Block, BlockHash, Network, OutPoint, ScriptBuf};
use rusqlite::Connection;

use super::wallets::descriptor_of;
use super::ServiceError;
use crate::db::deposits::{self as rows, DepositAddressRecord, DepositWalletRecord, NewDeposit};
use crate::db::{kyc, wallets, DbError};
use crate::rules::deposits::{confirmations, tag_rules, Blocklist, DepositFacts, DepositStatus};
use sluice_shared::asset::format_btc;
use sluice_shared::descriptor::Branch;

use crate::time::UnixTime;

/// The deposit wallets and the not-yet-issued addresses of their gap windows.
pub(super) struct Watch {
    wallets: HashMap<String, DepositWalletRecord>,
    /// script → (wallet, index) for indexes past the last issued one, within the gap.
    unissued: HashMap<ScriptBuf, (String, u32)>,
}

pub(super) fn watch(conn: &Connection, network: Network) -> Result<Watch, ServiceError> {
    let mut watch = Watch {
        wallets: HashMap::new(),
        unissued: HashMap::new(),
    };
    for deposit_wallet in rows::list_wallets(conn)? {
        let record = wallets::find(conn, &deposit_wallet.wallet)?.ok_or_else(|| {
            DbError::Corrupt(format!("deposit wallet {} has no wallet", deposit_wallet.wallet))
        })?;
        let descriptor = descriptor_of(&record)?;
        let start = record.next_receive_index;
        for index in start..start.saturating_add(deposit_wallet.settings.gap_limit) {
            if rows::address_at(conn, &record.name, index)?.is_some() {
                continue;
            }
            let address = descriptor
                .address(Branch::Receive, index, network)
                .map_err(|e| DbError::Corrupt(format!("deposit wallet {}: {e}", record.name)))?;
            watch
                .unissued
                .insert(address.script_pubkey(), (record.name.clone(), index));
        }
        watch
            .wallets
            .insert(deposit_wallet.wallet.clone(), deposit_wallet);
    }
    Ok(watch)
}

/// The deposit address `script` pays, if any, without recording anything.
pub(super) enum DepositAddressMatch {
    /// An address the coordinator issued (or recorded as unassigned earlier).
    Known(DepositAddressRecord),
    /// An address of a deposit wallet's gap window that nobody was given.
    Unissued {
        wallet: String,
        index: u32,
        address: String,
    },
}

pub(super) fn match_deposit_address(
    conn: &Connection,
    watch: &Watch,
    script: &ScriptBuf,
    network: Network,
) -> Result<Option<DepositAddressMatch>, ServiceError> {
    if let Some(known) = rows::address_by_script_hex(conn, &hex::encode(script.as_bytes()))? {
        return Ok(Some(DepositAddressMatch::Known(known)));
    }
    let Some((wallet, index)) = watch.unissued.get(script) else {
        return Ok(None);
    };
    let address = bitcoin::Address::from_script(script, network)
        .map_err(|e| DbError::Corrupt(format!("deposit wallet {wallet} index {index}: {e}")))?;
    Ok(Some(DepositAddressMatch::Unissued {
        wallet: wallet.clone(),
        index: *index,
        address: address.to_string(),
    }))
}

/// The deposit address `script` pays, recording a gap-window address as unassigned the
/// first time a payment to it is seen.
fn deposit_address(
    conn: &Connection,
    watch: &Watch,
    script: &ScriptBuf,
    network: Network,
    now: UnixTime,
) -> Result<Option<DepositAddressRecord>, ServiceError> {
    match match_deposit_address(conn, watch, script, network)? {
        None => Ok(None),
        Some(DepositAddressMatch::Known(known)) => Ok(Some(known)),
        Some(DepositAddressMatch::Unissued {
            wallet,
            index,
            address,
        }) => {
            let record = DepositAddressRecord {
                wallet,
                index,
                address,
                script_pubkey_hex: hex::encode(script.as_bytes()),
                customer: None,
                issued_by: None,
                issued_at: now,
            };
            rows::insert_address(conn, &record)?;
            Ok(Some(record))
        }
    }
}

/// Records the deposits in `block` (at `height`) and credits what is now deep enough.
/// Returns how many outputs paid deposit addresses.
pub(super) fn apply_block_deposits(
    conn: &Connection,
    network: Network,
    block: &Block,
    height: u32,
    hash: &BlockHash,
    instance: &str,
    now: UnixTime,
) -> Result<usize, ServiceError> {
    let watch = watch(conn, network)?;
    if watch.wallets.is_empty() {
        return Ok(0);
    }
    let mut blocklist: Option<Blocklist> = None;
    let mut seen = 0;
    for transaction in block.txdata.iter().filter(|t| !t.is_coinbase()) {
        let txid = transaction.compute_txid();
        for (vout, output) in transaction.output.iter().enumerate() {
            let Some(address) = deposit_address(conn, &watch, &output.script_pubkey, network, now)? else {
                continue;
            };
            let vout = u32::try_from(vout).map_err(|_| DbError::Corrupt("output index".to_owned()))?;
            let outpoint = OutPoint { txid, vout };
            seen += 1;
            if let Some(existing) = rows::find_by_outpoint(conn, &outpoint)? {
                seen_again(conn, &existing, height, hash, instance, now)?;
                continue;
            }
            let settings = &watch
                .wallets
                .get(&address.wallet)
                .ok_or_else(|| {
                    DbError::Corrupt(format!("deposit address of unknown wallet {}", address.wallet))
                })?
                .settings;
            let customer_kyc = match &address.customer {
                Some(customer) => Some(
                    kyc::status(conn, customer)?
                        .ok_or_else(|| {
                            DbError::Corrupt(format!("deposit address issued to unknown customer {customer}"))
                        })?
                        .standing(now),
                ),
                None => None,
            };
            let list = match &mut blocklist {
                Some(list) => list,
                None => blocklist.insert(rows::blocklist(conn, network)?),
            };
            let reasons = tag_rules(
                &DepositFacts {
                    amount: output.value,
                    customer_kyc,
                    inputs: &transaction.input,
                    network,
                },
                settings,
                list,
            );
            let status = match (&address.customer, reasons.is_empty()) {
                (_, false) => DepositStatus::Tagged,
                (None, true) => DepositStatus::Unassigned,
                (Some(_), true) => DepositStatus::Pending,
            };
            let id = rows::insert(
                conn,
                &NewDeposit {
                    outpoint,
                    wallet: &address.wallet,
                    index: address.index,
                    customer: address.customer.as_deref(),
                    amount: output.value,
                    block: (height, *hash),
                    status,
                },
                now,
            )?;
            let to_whom = match &address.customer {
                Some(customer) => format!("customer {customer}'s address"),
                None => "an address issued to no one".to_owned(),
            };
            let note = format!(
                "{} to {to_whom} {} (index {}) in block {height} ({hash})",
                format_btc(output.value),
                address.address,
                address.index
            );
            rows::insert_event(conn, id, "seen", instance, &note, now)?;
            for reason in &reasons {
                rows::insert_tag(conn, id, reason.rule, &reason.detail, instance, now)?;
            }
            if status == DepositStatus::Tagged {
                let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                let note = format!(
                    "tagged on receive ({}): quarantined, never credited",
                    why.join("; ")
                );
                rows::insert_event(conn, id, "tagged", instance, &note, now)?;
                tracing::warn!(deposit = id, %outpoint, "deposit tagged on receive: {}", why.join("; "));
            } else if status == DepositStatus::Unassigned {
                tracing::warn!(deposit = id, %outpoint, "payment to deposit address {} issued to no one", address.address);
            }
        }
    }
    credit_deep_enough(conn, &watch.wallets, height, instance, now)?;
    Ok(seen)
}

/// A deposit recorded before shows up in a block again (after a reorg took it out).
fn seen_again(
    conn: &Connection,
    existing: &rows::DepositRecord,
    height: u32,
    hash: &BlockHash,
    instance: &str,
    now: UnixTime,
) -> Result<(), ServiceError> {
    if existing.block.is_some() {
        return Ok(());
    }
    rows::set_block(conn, existing.id, Some((height, hash)), now)?;
    let note = format!("in block {height} ({hash}) of the new chain");
    if existing.status == DepositStatus::Reversed {
        rows::transition(
            conn,
            existing.id,
            DepositStatus::Reversed,
            DepositStatus::Pending,
            now,
        )?;
        rows::insert_event(
            conn,
            existing.id,
            "seen_again",
            instance,
            &format!("{note}: pending again"),
            now,
        )?;
    } else {
        let note = format!("{note}; stays {}", existing.status);
        rows::insert_event(conn, existing.id, "seen_again", instance, &note, now)?;
    }
    Ok(())
}

/// Credits pending deposits with at least their wallet's confirmations at `tip`.
fn credit_deep_enough(
    conn: &Connection,
    wallets: &HashMap<String, DepositWalletRecord>,
    tip: u32,
    instance: &str,
    now: UnixTime,
) -> Result<(), ServiceError> {
    for deposit in rows::pending_in_blocks(conn)? {
        let Some((height, hash)) = deposit.block else {
            continue;
        };
        let required = wallets
            .get(&deposit.wallet)
            .map(|w| w.settings.credit_confirmations)
            .ok_or_else(|| DbError::Corrupt(format!("deposit {} of unknown deposit wallet", deposit.id)))?;
        let have = confirmations(height, tip);
        if have < required {
            continue;
        }
        if rows::transition(
            conn,
            deposit.id,
            DepositStatus::Pending,
            DepositStatus::Credited,
            now,
        )? {
            let note = format!(
                "credited {} to customer {}: {have} confirmation(s) (block {height}, {hash}), {required} required",
                format_btc(deposit.amount),
                deposit.customer.as_deref().unwrap_or("?")
            );
            rows::insert_event(conn, deposit.id, "credited", instance, &note, now)?;
            tracing::info!(deposit = deposit.id, outpoint = %deposit.outpoint, "{note}");
        }
    }
    Ok(())
}

/// A reorg replaced the blocks above `fork`: deposits recorded there leave the chain.
/// Pending and credited ones are reversed (a credit is taken back); tagged and unassigned
/// ones keep their status. Each gets a history row. Returns how many were reversed.
pub(super) fn roll_back_deposits(
    conn: &Connection,
    fork: u32,
    instance: &str,
    now: UnixTime,
) -> Result<usize, ServiceError> {
    let mut reversed = 0;
    for deposit in rows::in_blocks_from(conn, fork + 1)? {
        let Some((height, hash)) = deposit.block else {
            continue;
        };
        let left = format!("reorg: block {height} ({hash}) left the chain");
        let note = match deposit.status {
            DepositStatus::Credited => {
                format!("{left}; the credit of {} is reversed", format_btc(deposit.amount))
            }
            DepositStatus::Pending => format!("{left}; it was not credited yet"),
            other => format!("{left}; stays {other}"),
        };
        if matches!(deposit.status, DepositStatus::Pending | DepositStatus::Credited) {
            rows::transition(conn, deposit.id, deposit.status, DepositStatus::Reversed, now)?;
            reversed += 1;
            tracing::warn!(deposit = deposit.id, outpoint = %deposit.outpoint, "{note}");
        }
        // After the status: a credited deposit always has its block.
        rows::set_block(conn, deposit.id, None, now)?;
        rows::insert_event(conn, deposit.id, "reversed", instance, &note, now)?;
    }
    Ok(reversed)
}
