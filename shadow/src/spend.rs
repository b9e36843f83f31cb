//! Carrying out a recorded spend: sign it through the signer's pipeline (the deposit
//! wallet registered in the shadow's state, its limits, its durable reservation, its
//! journal), record the signed transaction, then broadcast it to the shadow's node.

use anyhow::{anyhow, bail, Context, Result};
use bitcoin::Transaction;
use sluice_coordinator::chain::CoreRpcClient;
use sluice_shared::finalize::finalize;
use sluice_signer::keys::KeyMaterial;
use sluice_signer::pipeline::{self, Rule};
use sluice_signer::state::State;

use crate::settings::DEPOSIT_WALLET;
use crate::sweeps::{SweepBook, SweepRecord};

/// TESTS ONLY: where `run --dangerous-stop-after` makes the process die, as a kill would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DangerousStop {
    /// After the sweep is recorded, before it is signed.
    Planned,
    /// After the signed transaction is recorded, before it is broadcast.
    Signed,
}

fn dangerously_die_if(stop: Option<DangerousStop>, here: DangerousStop) {
    if stop == Some(here) {
        eprintln!("sluice-shadow: --dangerous-stop-after {here:?}: dying here on purpose");
        std::process::abort();
    }
}

/// Signs a planned spend within the limits. A limits refusal is journaled and returned.
pub fn sign(
    state: &mut State,
    keys: &KeyMaterial,
    book: &mut SweepBook,
    record: &SweepRecord,
    stop: Option<DangerousStop>,
) -> Result<Transaction> {
    dangerously_die_if(stop, DangerousStop::Planned);
    let decided = pipeline::decide(state, record.psbt()?, Some(DEPOSIT_WALLET))?;
    if !decided.decision.would_sign() {
        let reason = match &decided.decision {
            sluice_signer::review::Decision::Refused(reason) => reason.to_string(),
            _ => "refused".to_owned(),
        };
        return Err(pipeline::refuse(state, &record.txid, DEPOSIT_WALLET, Rule::Limits, reason)?.into());
    }
    let signed = pipeline::reserve_and_sign(state, keys, decided.plan)?;
    let tx = finalize(&signed.psbt).map_err(|e| anyhow!("finalizing sweep {}: {e}", record.txid))?;
    if tx.compute_txid().to_string() != record.txid {
        bail!(
            "the signed sweep's txid {} is not the recorded {}",
            tx.compute_txid(),
            record.txid
        );
    }
    book.record_signed(&record.txid, &tx)?;
    pipeline::journal_signed(
        state,
        &signed,
        DEPOSIT_WALLET,
        &format!("{} {}", record.kind, record.destination),
    )?;
    dangerously_die_if(stop, DangerousStop::Signed);
    Ok(tx)
}

/// Broadcasts a signed spend (again, after a restart: the node answers that it already
/// has it, which is fine).
pub async fn broadcast(
    node: &CoreRpcClient,
    book: &mut SweepBook,
    txid: &str,
    tx: &Transaction,
) -> Result<()> {
    match node.send_raw_transaction(tx).await {
        Ok(_) => {}
        Err(e) if is_already_known(&e.to_string()) => {}
        Err(e) => return Err(e).with_context(|| format!("broadcasting {txid}")),
    }
    book.set_state(txid, "broadcast")?;
    Ok(())
}

fn is_already_known(message: &str) -> bool {
    [
        "already in block chain",
        "txn-already-known",
        "txn-already-in-mempool",
        "already have",
    ]
    .iter()
    .any(|m| message.contains(m))
}
