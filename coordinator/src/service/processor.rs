//! The processor's step: for one wallet, take approved withdrawals oldest first, choose
//! coins, build the PSBT (full BIP32 origins, `non_witness_utxo`, change to the change
//! branch), check it the way a signer will, and open a signing session.
//!
//! All of it happens in one IMMEDIATE transaction: the withdrawals move `approved` →
//! `signing` (one event, naming the session and the transaction) and the coins are
//! reserved in the same commit that creates the session, so two processors running at once can never batch the same withdrawal or
//! spend the same coin (the second one waits for the lock, then finds them taken).

use bitcoin::absolute::LockTime;
use bitcoin::{Amount, Network, OutPoint, ScriptBuf, TxIn, TxOut, Txid, Weight};
use rusqlite::Connection;
use sluice_shared::api::{EventKind, WithdrawalStatus};
use sluice_shared::descriptor::Branch;
use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};
use sluice_shared::psbt_builder::{build_psbt, SpendableCoin};

use super::wallets::descriptor_of;
use super::{require, require_current, Actor, Coordinator, ServiceError};
use crate::db::utxos::{self, CoinRecord, ObservedCoin};
use crate::db::withdrawals::{self, WithdrawalRecord};
use crate::db::{audit, sessions, wallets, DbError};
use crate::rules::coin_selection::{select_coins, Selection, SelectionParams};
use crate::rules::intake::parse_destination;
use crate::rules::roles::Permission;
use crate::time::UnixTime;

/// How the processor builds transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// Network fee rate, satoshis per virtual byte.
    pub sat_per_vbyte: u64,
    /// Most withdrawals paid by one transaction.
    pub max_batch: usize,
    /// Most coins one transaction spends.
    pub max_inputs: usize,
    /// Refuse to build a transaction paying more network fee than this (the signers have
    /// their own cap; this catches a mistake before they see it).
    pub max_fee: Amount,
    /// Names this processor in histories (`processor@host-1`).
    pub instance: String,
}

/// A signing session just opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    pub session_id: u64,
    pub wallet: String,
    pub txid: Txid,
    pub withdrawals: Vec<u64>,
    pub inputs: usize,
    pub fee: Amount,
    pub change: Option<Amount>,
}

/// What one processor step did for a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// No approved withdrawals.
    Idle,
    Batched(BatchSummary),
    /// Approved withdrawals wait, e.g. for funds.
    Waiting {
        waiting: usize,
        reason: String,
    },
    /// Fewer approved withdrawals than a full batch, held for more to come
    /// ([`PartialBatches::Hold`]).
    Filling {
        waiting: usize,
    },
}

/// Whether a processor pass pays approved withdrawals that do not fill a batch now, or
/// holds them for more to come. Under load, opening a session for whatever few are
/// approved at each pass makes many small sessions, each with its own PSBT, signer round
/// trips, signatures and broadcast; holding them for a moment (the run loop's
/// `batch_wait`) fills batches and costs that moment of latency, never more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialBatches {
    Open,
    Hold,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Database(DbError::Corrupt(e.to_string()))
}

/// The largest prefix of `queue` (oldest first) that the coins can pay, and its selection.
fn largest_payable(
    queue: &[(ScriptBuf, Amount)],
    coins: &[Amount],
    base: &SelectionParams,
) -> Result<(usize, Selection), String> {
    let attempt = |k: usize| {
        let payments = &queue[..k];
        let params = SelectionParams {
            payment_count: k,
            payments_weight: payments
                .iter()
                .map(|(script, value)| {
                    TxOut {
                        value: *value,
                        script_pubkey: script.clone(),
                    }
                    .weight()
                })
                .sum(),
            ..*base
        };
        let target = payments.iter().map(|(_, a)| *a).sum();
        select_coins(coins, target, &params)
    };
    let first = attempt(1).map_err(|e| e.to_string())?;
    // Paying more never needs fewer funds, so the payable prefixes are 1..=k for some k.
    let (mut good, mut best, mut bad) = (1, first, queue.len() + 1);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        match attempt(mid) {
            Ok(selection) => (good, best) = (mid, selection),
            Err(_) => bad = mid,
        }
    }
    Ok((good, best))
}

impl Coordinator {
    /// Records a coin the monitor saw. The script is derived from the wallet's descriptor
    /// at `branch/index` and must match the output, so a wrong claim is refused.
    pub fn record_coin(&mut self, coin: &ObservedCoin<'_>, now: UnixTime) -> Result<(), ServiceError> {
        let tx = self.db.write()?;
        let record = wallets::find(&tx, coin.wallet)?
            .ok_or_else(|| ServiceError::UnknownWallet(coin.wallet.to_owned()))?;
        let descriptor = descriptor_of(&record)?;
        let expected = descriptor
            .script_pubkey(coin.branch, coin.index)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let output = usize::try_from(coin.vout)
            .ok()
            .and_then(|i| coin.prev_tx.output.get(i));
        if output.map(|o| &o.script_pubkey) != Some(&expected) {
            return Err(ServiceError::Invalid(format!(
                "output {} of {} is not wallet {}'s address {:?}/{}",
                coin.vout,
                coin.prev_tx.compute_txid(),
                coin.wallet,
                coin.branch,
                coin.index
            )));
        }
        utxos::record(&tx, coin, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Takes a coin out of coin selection (or returns it), e.g. a tagged deposit (admin).
    pub fn set_coin_quarantined(
        &mut self,
        actor: &Actor,
        outpoint: &OutPoint,
        quarantined: bool,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if !utxos::set_quarantined(&tx, outpoint, quarantined)? {
            return Err(ServiceError::NotFound(format!("coin {outpoint}")));
        }
        let action = if quarantined {
            "coin quarantine"
        } else {
            "coin release"
        };
        audit::record(
            &tx,
            actor.name(),
            action,
            &outpoint.to_string(),
            &serde_json::json!({}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn wallets_with_approved_withdrawals(&mut self) -> Result<Vec<String>, ServiceError> {
        let tx = self.db.read()?;
        Ok(withdrawals::wallets_with_approved(&tx)?)
    }

    pub fn session(&mut self, id: u64) -> Result<Option<sessions::SessionRecord>, ServiceError> {
        let tx = self.db.read()?;
        Ok(sessions::find(&tx, id)?)
    }

    /// One processor step for `wallet`: opens at most one signing session, in its own
    /// transaction.
    pub fn batch_wallet(
        &mut self,
        wallet: &str,
        config: &ProcessorConfig,
        now: UnixTime,
    ) -> Result<BatchOutcome, ServiceError> {
        let network = self.network();
        let tx = self.db.write()?;
        let outcome = open_session(&tx, network, wallet, config, PartialBatches::Open, now)?;
        if matches!(outcome, BatchOutcome::Batched(_)) {
            tx.commit()?;
        }
        Ok(outcome)
    }

    /// One processor pass for `wallet`: opens signing sessions one after another, as
    /// [`Coordinator::batch_wallet`] would, until the approved withdrawals are all batched,
    /// wait (for funds, say), or [`SESSIONS_PER_COMMIT`] sessions are open, all in one
    /// write transaction with one durable commit instead of one per session. Each session
    /// is opened in its own savepoint and sees the ones before it (their coins reserved,
    /// their withdrawals no longer approved). A session that fails rolls back alone: the
    /// sessions before it are committed and returned with the error.
    pub fn batch_wallet_pass(
        &mut self,
        wallet: &str,
        config: &ProcessorConfig,
        now: UnixTime,
    ) -> Result<ProcessorPass, ServiceError> {
        self.batch_wallet_pass_with(wallet, config, PartialBatches::Open, now)
    }

    /// [`Coordinator::batch_wallet_pass`], holding back a last session that would pay
    /// fewer than `max_batch` withdrawals when `partial` says so (`then` is
    /// [`BatchOutcome::Filling`]).
    pub fn batch_wallet_pass_with(
        &mut self,
        wallet: &str,
        config: &ProcessorConfig,
        partial: PartialBatches,
        now: UnixTime,
    ) -> Result<ProcessorPass, ServiceError> {
        let network = self.network();
        let mut tx = self.db.write()?;
        let mut opened = Vec::new();
        let mut then = Ok(BatchOutcome::Idle);
        while opened.len() < SESSIONS_PER_COMMIT {
            match crate::db::in_savepoint(
                &mut tx,
                |conn| open_session(conn, network, wallet, config, partial, now),
                |outcome| matches!(outcome, Ok(BatchOutcome::Batched(_))),
            )? {
                Ok(BatchOutcome::Batched(summary)) => opened.push(summary),
                stop => {
                    then = stop;
                    break;
                }
            }
        }
        if !opened.is_empty() {
            tx.commit()?;
        }
        Ok(ProcessorPass { opened, then })
    }
}

/// Most signing sessions one processor pass opens in one write transaction: bounds how
/// long the pass holds the database's write lock (each session's PSBT is built and
/// inspected inside it) while intake and the signers' posts wait.
pub const SESSIONS_PER_COMMIT: usize = 32;

/// What one processor pass did for a wallet.
#[derive(Debug)]
pub struct ProcessorPass {
    /// The sessions opened (and committed), in order.
    pub opened: Vec<BatchSummary>,
    /// Why the pass stopped: `Idle` (nothing left, or the pass's limit of sessions),
    /// `Waiting`, or the error of the step that failed (rolled back alone).
    pub then: Result<BatchOutcome, ServiceError>,
}

/// Opens one signing session for `wallet` inside the caller's write transaction (the
/// caller commits when the outcome is `Batched`, and rolls back otherwise).
fn open_session(
    tx: &Connection,
    network: Network,
    wallet: &str,
    config: &ProcessorConfig,
    partial: PartialBatches,
    now: UnixTime,
) -> Result<BatchOutcome, ServiceError> {
    let record = wallets::find(tx, wallet)?.ok_or_else(|| ServiceError::UnknownWallet(wallet.to_owned()))?;
    let queue: Vec<WithdrawalRecord> = withdrawals::approved_for_wallet(tx, wallet, config.max_batch)?;
    if queue.is_empty() {
        return Ok(BatchOutcome::Idle);
    }
    if partial == PartialBatches::Hold && queue.len() < config.max_batch {
        return Ok(BatchOutcome::Filling { waiting: queue.len() });
    }
    let descriptor = descriptor_of(&record)?;
    // A restored database does not know transactions made after its backup: batching
    // now could pay a withdrawal twice. Held until an admin has reconciled.
    if let Some(since) = crate::db::restore_hold::held_since(tx)? {
        return Ok(BatchOutcome::Waiting {
            waiting: queue.len(),
            reason: format!(
                "restored from a backup at {since}: nothing is batched until an admin has checked the approved withdrawals against the chain and run `sluice-coordinator restore-release`"
            ),
        });
    }
    let payments: Vec<(ScriptBuf, Amount)> = queue
        .iter()
        .map(|w| {
            Ok((
                parse_destination(&w.destination, network)?.script_pubkey(),
                w.amount,
            ))
        })
        .collect::<Result<_, ServiceError>>()?;
    let coins: Vec<CoinRecord> = utxos::spendable(tx, wallet)?;
    let amounts: Vec<Amount> = coins.iter().map(|c| c.amount).collect();

    let satisfy = descriptor.receive().max_weight_to_satisfy().map_err(internal)?;
    let change_script = descriptor.script_pubkey(Branch::Change, 0).map_err(internal)?;
    let base = SelectionParams {
        input_weight: TxIn::default().segwit_weight() + satisfy,
        payments_weight: Weight::ZERO,
        payment_count: 0,
        change_weight: TxOut {
            value: Amount::ZERO,
            script_pubkey: change_script.clone(),
        }
        .weight(),
        sat_per_vbyte: config.sat_per_vbyte,
        change_dust: change_script.minimal_non_dust(),
        max_inputs: config.max_inputs,
    };
    let (count, selection) = match largest_payable(&payments, &amounts, &base) {
        Ok(found) => found,
        Err(reason) => {
            return Ok(BatchOutcome::Waiting {
                waiting: queue.len(),
                reason,
            })
        }
    };
    if selection.fee > config.max_fee {
        return Ok(BatchOutcome::Waiting {
            waiting: queue.len(),
            reason: format!(
                "the fee {} would exceed the processor's cap {}",
                selection.fee, config.max_fee
            ),
        });
    }
    let batch = &queue[..count];

    let change = match selection.change {
        Some(amount) => {
            let index = wallets::take_next_index(tx, wallet, Branch::Change)?;
            let address = descriptor
                .address(Branch::Change, index, network)
                .map_err(internal)?;
            wallets::insert_address(
                tx,
                wallet,
                Branch::Change,
                index,
                &address.to_string(),
                &hex::encode(address.script_pubkey().as_bytes()),
                now,
            )?;
            Some((index, amount))
        }
        None => None,
    };
    let spend: Vec<SpendableCoin> = selection
        .coins
        .iter()
        .map(|i| {
            let c = &coins[*i];
            Ok(SpendableCoin {
                outpoint: c.outpoint,
                prev_tx: utxos::funding_transaction(tx, c)?,
                branch: c.branch,
                index: c.index,
            })
        })
        .collect::<Result<_, DbError>>()?;
    let psbt =
        build_psbt(&descriptor, &spend, &payments[..count], change, LockTime::ZERO).map_err(internal)?;

    // Check our own work the way every signer will before anyone sees it.
    let inspected = inspect_psbt(
        &psbt,
        &descriptor,
        &InspectionPolicy {
            network,
            max_fee: config.max_fee,
            // The index just taken is the wallet's highest: change sits at it.
            change_bound: ChangeIndexBound::with_default_gap(change.map(|(index, _)| index)),
        },
    )
    .map_err(|e| internal(format!("the processor built a PSBT a signer would refuse: {e}")))?;
    let review = inspected.review();
    let paid: Amount = batch.iter().map(|w| w.amount).sum();
    if review.fee() != selection.fee
        || review.total_external() != paid
        || review.total_change() != selection.change.unwrap_or(Amount::ZERO)
    {
        return Err(internal("the built PSBT does not match the selection"));
    }

    let session_id = sessions::insert(
        tx,
        wallet,
        &psbt,
        selection.fee,
        selection.change,
        &config.instance,
        now,
    )?;
    for coin in &spend {
        utxos::reserve(tx, &coin.outpoint, session_id)?;
    }
    let txid = psbt.unsigned_tx.compute_txid();
    let note = format!("session {session_id}, transaction {txid}");
    for (vout, w) in batch.iter().enumerate() {
        sessions::add_withdrawal(tx, session_id, w.id, u32::try_from(vout).map_err(internal)?)?;
        withdrawals::set_status(
            tx,
            w.id,
            WithdrawalStatus::Approved,
            WithdrawalStatus::Signing,
            now,
        )?;
        withdrawals::insert_event(tx, w.id, EventKind::Signing, &config.instance, Some(&note), now)?;
    }
    Ok(BatchOutcome::Batched(BatchSummary {
        session_id,
        wallet: wallet.to_owned(),
        txid,
        withdrawals: batch.iter().map(|w| w.id).collect(),
        inputs: spend.len(),
        fee: selection.fee,
        change: selection.change,
    }))
}

#[cfg(test)]
#[path = "processor_tests.rs"]
mod tests;
