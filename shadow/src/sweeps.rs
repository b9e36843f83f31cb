//! Sweeps: the shadow moves confirmed, untagged, cross-checked deposits to the treasury
//! wallet, through the signer's pipeline (inspection, the shadow's own limits, a durable
//! reservation, signature, journal).
//!
//! Exactly once: a sweep's unsigned transaction (so its txid) is recorded in
//! `shadow.sqlite` before anything is signed, each coin can belong to one sweep only
//! (`swept_inputs` is keyed by outpoint), the signed transaction is recorded before it
//! is broadcast, and after a crash or a kill the same transaction is signed again (the
//! reservation is the same: nothing is charged twice) and broadcast again. A new sweep
//! never takes a coin an earlier one holds.

use std::path::Path;

use anyhow::{bail, Context, Result};
use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, OutPoint, Transaction};
use rusqlite::{params, Connection, OptionalExtension};
use sluice_shared::deposit_api::Deposit;
use sluice_shared::descriptor::{Branch, WalletDescriptor, WalletKind};
use sluice_shared::psbt_builder::{build_psbt, SpendableCoin};

use crate::chain_scan::ChainCoin;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS sweeps (
    txid TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('sweep', 'release')),
    destination TEXT NOT NULL,
    amount_sat INTEGER NOT NULL,
    fee_sat INTEGER NOT NULL,
    treasury_index INTEGER,
    release_command TEXT UNIQUE,
    unsigned_psbt TEXT NOT NULL,
    signed_tx TEXT,
    state TEXT NOT NULL CHECK (state IN ('planned', 'signed', 'broadcast', 'confirmed')),
    created_at INTEGER NOT NULL,
    CHECK ((state = 'planned') = (signed_tx IS NULL))
);
CREATE TABLE IF NOT EXISTS swept_inputs (
    outpoint TEXT PRIMARY KEY,
    txid TEXT NOT NULL REFERENCES sweeps(txid)
);
CREATE TRIGGER IF NOT EXISTS sweeps_no_delete BEFORE DELETE ON sweeps
    BEGIN SELECT RAISE(ABORT, 'sweeps are recorded, never deleted'); END;
CREATE TRIGGER IF NOT EXISTS swept_inputs_no_delete BEFORE DELETE ON swept_inputs
    BEGIN SELECT RAISE(ABORT, 'a swept coin stays swept'); END;
CREATE TRIGGER IF NOT EXISTS sweeps_fixed BEFORE UPDATE OF txid, kind, destination, amount_sat, fee_sat, unsigned_psbt ON sweeps
    BEGIN SELECT RAISE(ABORT, 'a sweep never changes once planned'); END;
"#;

/// One recorded sweep (or release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRecord {
    pub txid: String,
    pub kind: String,
    pub destination: String,
    pub amount: Amount,
    pub fee: Amount,
    pub unsigned_psbt: String,
    pub signed_tx: Option<String>,
    pub state: String,
}

impl SweepRecord {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "txid": self.txid,
            "kind": self.kind,
            "destination": self.destination,
            "amount_sat": self.amount.to_sat(),
            "fee_sat": self.fee.to_sat(),
            "state": self.state,
        })
    }

    pub fn psbt(&self) -> Result<Psbt> {
        self.unsigned_psbt
            .parse::<Psbt>()
            .context("a recorded sweep's PSBT")
    }

    pub fn signed(&self) -> Result<Option<Transaction>> {
        self.signed_tx
            .as_deref()
            .map(|hex| deserialize_hex(hex).context("a recorded sweep's transaction"))
            .transpose()
    }
}

/// The sweeps database.
#[derive(Debug)]
pub struct SweepBook {
    conn: Connection,
}

impl SweepBook {
    /// Creates it at `configure` (refuses an existing file).
    pub fn create(path: &Path) -> Result<()> {
        sluice_fsutil::create_private_empty(path)?;
        SweepBook::open(path).map(drop)
    }

    pub fn open(path: &Path) -> Result<SweepBook> {
        if !path.exists() {
            bail!(
                "{} is missing: the shadow's sweep records are gone; restore them from a backup",
                path.display()
            );
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "full")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SweepBook { conn })
    }

    pub fn all(&self) -> Result<Vec<SweepRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT txid, kind, destination, amount_sat, fee_sat, unsigned_psbt, signed_tx, state FROM sweeps ORDER BY created_at, txid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SweepRecord {
                txid: r.get(0)?,
                kind: r.get(1)?,
                destination: r.get(2)?,
                amount: Amount::from_sat(r.get::<_, i64>(3)?.unsigned_abs()),
                fee: Amount::from_sat(r.get::<_, i64>(4)?.unsigned_abs()),
                unsigned_psbt: r.get(5)?,
                signed_tx: r.get(6)?,
                state: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn is_swept(&self, outpoint: &OutPoint) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM swept_inputs WHERE outpoint = ?1",
                [outpoint.to_string()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// How many sweeps to the treasury were ever planned (the next treasury index).
    pub fn next_treasury_index(&self) -> Result<u32> {
        let next: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(treasury_index) + 1, 0) FROM sweeps WHERE kind = 'sweep'",
            [],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(next)?)
    }

    /// Records a planned spend and its coins, in one transaction, before signing.
    pub fn record_planned(&mut self, plan: &PlannedSpend, now: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        let txid = plan.psbt.unsigned_tx.compute_txid().to_string();
        tx.execute(
            "INSERT INTO sweeps (txid, kind, destination, amount_sat, fee_sat, treasury_index, release_command, unsigned_psbt, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'planned', ?9)",
            params![
                txid,
                plan.kind,
                plan.destination,
                i64::try_from(plan.amount.to_sat())?,
                i64::try_from(plan.fee.to_sat())?,
                plan.treasury_index,
                plan.release_command,
                plan.psbt.to_string(),
                now
            ],
        )?;
        for input in &plan.psbt.unsigned_tx.input {
            tx.execute(
                "INSERT INTO swept_inputs (outpoint, txid) VALUES (?1, ?2)",
                params![input.previous_output.to_string(), txid],
            )
            .with_context(|| format!("coin {} is already in a sweep", input.previous_output))?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn record_signed(&mut self, txid: &str, signed: &Transaction) -> Result<()> {
        self.conn.execute(
            "UPDATE sweeps SET signed_tx = ?2, state = 'signed' WHERE txid = ?1 AND state = 'planned'",
            params![txid, serialize_hex(signed)],
        )?;
        Ok(())
    }

    pub fn set_state(&mut self, txid: &str, state: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE sweeps SET state = ?2 WHERE txid = ?1",
            params![txid, state],
        )?;
        Ok(())
    }

    pub fn release_applied(&self, command_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM sweeps WHERE release_command = ?1",
                [command_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

/// A spend ready to be recorded and signed.
#[derive(Debug, Clone)]
pub struct PlannedSpend {
    pub psbt: Psbt,
    /// `sweep` or `release`.
    pub kind: &'static str,
    pub destination: String,
    pub amount: Amount,
    pub fee: Amount,
    pub treasury_index: Option<u32>,
    pub release_command: Option<String>,
}

/// The coins a sweep may take: confirmed deeply enough, unspent, in no earlier sweep,
/// and credited in the coordinator's ledger (so neither tagged, pending, reversed nor
/// unassigned). The caller sweeps only after a cross-check without alarms.
pub fn sweepable<'a>(
    coins: &'a [ChainCoin],
    ledger: &[Deposit],
    wallet: &str,
    credit_confirmations: u32,
    already_swept: impl Fn(&OutPoint) -> bool,
) -> Vec<&'a ChainCoin> {
    coins
        .iter()
        .filter(|c| c.spent_by.is_none() && c.deposit.confirmations >= credit_confirmations)
        .filter(|c| !already_swept(&c.deposit.outpoint))
        .filter(|c| {
            let outpoint = c.deposit.outpoint;
            ledger.iter().any(|d| {
                d.wallet == wallet
                    && d.txid == outpoint.txid.to_string()
                    && d.vout == outpoint.vout
                    && d.status == "credited"
                    && d.tags.is_empty()
            })
        })
        .collect()
}

/// A generous virtual size for spending `inputs` coins of `kind` to one output.
pub fn estimated_vsize(kind: WalletKind, inputs: usize) -> u64 {
    let per_input = match kind {
        WalletKind::Wpkh => 69,
        WalletKind::TrSingle => 58,
        WalletKind::WshSortedMulti { threshold, keys } => 50 + 18 * threshold as u64 + 9 * keys as u64,
    };
    11 + 43 + per_input * inputs as u64
}

/// Builds the spend of `coins` to `destination` (whole, less the fee).
pub fn build_spend(
    deposit: &WalletDescriptor,
    coins: &[&ChainCoin],
    destination: bitcoin::ScriptBuf,
    fee_rate_sat_vb: u64,
) -> Result<(Psbt, Amount, Amount)> {
    let total: Amount = coins.iter().map(|c| c.deposit.amount).sum();
    let fee = Amount::from_sat(fee_rate_sat_vb.saturating_mul(estimated_vsize(deposit.kind(), coins.len())));
    let Some(amount) = total.checked_sub(fee).filter(|a| *a > Amount::from_sat(546)) else {
        bail!("the coins ({total}) do not cover the fee ({fee}) with something left to pay");
    };
    let spendable: Vec<SpendableCoin> = coins
        .iter()
        .map(|c| SpendableCoin {
            outpoint: c.deposit.outpoint,
            prev_tx: c.funding.clone(),
            branch: Branch::Receive,
            index: c.deposit.index,
        })
        .collect();
    let psbt = build_psbt(
        deposit,
        &spendable,
        &[(destination, amount)],
        None,
        LockTime::ZERO,
    )?;
    Ok((psbt, amount, fee))
}
