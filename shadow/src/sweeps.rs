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
use sluice_shared::descriptor::{Branch, WalletDescriptor, WalletKind, SWEEP_INDEX_BASE};
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

    /// The treasury receive index of the next sweep: one past the last sweep ever planned,
    /// in the range reserved for sweeps ([`SWEEP_INDEX_BASE`] up), which the coordinator
    /// never hands out and its monitor watches. No index is used twice, even for a sweep
    /// that was planned and never broadcast.
    pub fn next_treasury_index(&self) -> Result<u32> {
        let highest: Option<i64> = self.conn.query_row(
            "SELECT MAX(treasury_index) FROM sweeps WHERE kind = 'sweep'",
            [],
            |r| r.get(0),
        )?;
        let next = match highest {
            None => SWEEP_INDEX_BASE,
            Some(highest) => u32::try_from(highest + 1)?.max(SWEEP_INDEX_BASE),
        };
        if next >= (1 << 31) - 1 {
            bail!("every treasury sweep index is used: configure a new treasury wallet");
        }
        Ok(next)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crosscheck::ChainDeposit;
    use bitcoin::{transaction, Txid};

    fn coin(n: u8, sat: u64, confirmations: u32, spent: bool) -> ChainCoin {
        let funding = Transaction {
            version: transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![],
            output: vec![],
        };
        ChainCoin {
            deposit: ChainDeposit {
                outpoint: OutPoint::new(Txid::from_byte_array([n; 32]), 0),
                index: u32::from(n),
                amount: Amount::from_sat(sat),
                confirmations,
            },
            funding,
            spent_by: spent.then(|| Txid::from_byte_array([99; 32])),
        }
    }

    fn entry(n: u8, status: &str, tagged: bool) -> Deposit {
        Deposit {
            id: u64::from(n),
            txid: Txid::from_byte_array([n; 32]).to_string(),
            vout: 0,
            wallet: "deposits".into(),
            derivation_index: u32::from(n),
            address: String::new(),
            customer_id: Some("c".into()),
            amount_sat: 1,
            status: status.into(),
            block_height: Some(1),
            block_hash: None,
            confirmations: 6,
            first_seen_at: 0,
            updated_at: 0,
            tags: if tagged {
                vec![sluice_shared::deposit_api::DepositTag {
                    rule: "manual".into(),
                    detail: String::new(),
                    tagged_by: "cora".into(),
                    tagged_at: 0,
                }]
            } else {
                vec![]
            },
            history: vec![],
        }
    }

    use bitcoin::hashes::Hash;

    #[test]
    fn only_credited_untagged_unspent_deep_unswept_coins_are_swept() {
        let coins = [
            coin(1, 10_000, 6, false), // credited: swept
            coin(2, 10_000, 6, false), // tagged
            coin(3, 10_000, 6, false), // pending
            coin(4, 10_000, 1, false), // too shallow
            coin(5, 10_000, 6, true),  // spent
            coin(6, 10_000, 6, false), // in an earlier sweep
            coin(7, 10_000, 6, false), // not in the ledger at all
            coin(8, 10_000, 6, false), // credited but carries a tag (never both; fail closed)
        ];
        let ledger = [
            entry(1, "credited", false),
            entry(2, "tagged", true),
            entry(3, "pending", false),
            entry(4, "credited", false),
            entry(5, "credited", false),
            entry(6, "credited", false),
            entry(8, "credited", true),
        ];
        let swept = OutPoint::new(Txid::from_byte_array([6; 32]), 0);
        let chosen = sweepable(&coins, &ledger, "deposits", 3, |o| *o == swept);
        let chosen: Vec<u32> = chosen.iter().map(|c| c.deposit.index).collect();
        assert_eq!(chosen, [1]);
        // Another wallet's ledger entry does not vouch for the coin.
        assert!(sweepable(&coins, &ledger, "other", 3, |_| false).is_empty());
    }

    #[test]
    fn a_coin_belongs_to_one_recorded_sweep_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadow.sqlite");
        SweepBook::create(&path).unwrap();
        assert!(SweepBook::create(&path).is_err(), "never over an existing book");
        let mut book = SweepBook::open(&path).unwrap();
        let tx = |outputs: u64| Transaction {
            version: transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([1; 32]), 0),
                ..Default::default()
            }],
            output: vec![bitcoin::TxOut {
                value: Amount::from_sat(outputs),
                script_pubkey: bitcoin::ScriptBuf::new(),
            }],
        };
        let plan = |outputs| PlannedSpend {
            psbt: Psbt::from_unsigned_tx(tx(outputs)).unwrap(),
            kind: "sweep",
            destination: "somewhere".into(),
            amount: Amount::from_sat(outputs),
            fee: Amount::from_sat(100),
            treasury_index: Some(SWEEP_INDEX_BASE),
            release_command: None,
        };
        assert_eq!(book.next_treasury_index().unwrap(), SWEEP_INDEX_BASE);
        book.record_planned(&plan(1_000), 0).unwrap();
        assert_eq!(book.next_treasury_index().unwrap(), SWEEP_INDEX_BASE + 1);
        assert!(book
            .is_swept(&OutPoint::new(Txid::from_byte_array([1; 32]), 0))
            .unwrap());
        let again = book.record_planned(&plan(2_000), 0).unwrap_err();
        assert!(format!("{again:#}").contains("already in a sweep"), "{again:#}");
        assert_eq!(book.all().unwrap().len(), 1, "the refused plan left nothing");
        let err = book
            .conn
            .execute("UPDATE sweeps SET destination = 'elsewhere'", [])
            .unwrap_err();
        assert!(err.to_string().contains("never changes"), "{err}");
    }
}
