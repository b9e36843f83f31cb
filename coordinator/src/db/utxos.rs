//! The wallets' coins: recorded when the monitor sees them, reserved by a signing session,
//! marked spent when a transaction spending them is seen. Quarantined coins are never
//! offered for spending.

use super::cached::CachedSql;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{Amount, OutPoint, Transaction, Txid};
use rusqlite::{params, Connection, OptionalExtension};
use sluice_shared::descriptor::Branch;

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::time::UnixTime;

/// A coin the wallet can spend. Coin selection needs only this; the transaction that
/// created it is read (and checked) for the coins selected (`funding_transaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinRecord {
    pub outpoint: OutPoint,
    pub branch: Branch,
    pub index: u32,
    pub amount: Amount,
}

/// A coin as the monitor saw it on the chain.
#[derive(Debug, Clone, Copy)]
pub struct ObservedCoin<'a> {
    pub wallet: &'a str,
    /// The transaction that created it.
    pub prev_tx: &'a Transaction,
    pub vout: u32,
    /// Where in the wallet its script derives from (the caller has checked the script).
    pub branch: Branch,
    pub index: u32,
    /// `None` while unconfirmed: only confirmed coins are spent.
    pub block_height: Option<u32>,
}

/// Records a coin. Idempotent: seeing it again only updates its block height.
pub fn record(conn: &Connection, coin: &ObservedCoin<'_>, now: UnixTime) -> Result<(), DbError> {
    let ObservedCoin {
        wallet,
        prev_tx,
        vout,
        branch,
        index,
        block_height,
    } = *coin;
    let output = usize::try_from(vout)
        .ok()
        .and_then(|i| prev_tx.output.get(i))
        .ok_or_else(|| DbError::Corrupt(format!("transaction has no output {vout}")))?;
    conn.execute_cached(
        "INSERT INTO utxos (txid, vout, wallet, branch, derivation_index, amount_sat, prev_tx, block_height, observed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(txid, vout) DO UPDATE SET block_height = excluded.block_height",
        params![
            prev_tx.compute_txid().to_string(),
            vout,
            wallet,
            branch.number(),
            index,
            sat_to_sql(output.value)?,
            serialize_hex(prev_tx),
            block_height,
            now.secs()
        ],
    )?;
    Ok(())
}

/// Takes a coin out of (or puts it back into) coin selection.
pub fn set_quarantined(conn: &Connection, outpoint: &OutPoint, quarantined: bool) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE utxos SET quarantined = ?3 WHERE txid = ?1 AND vout = ?2",
        params![outpoint.txid.to_string(), outpoint.vout, quarantined],
    )? == 1)
}

/// Confirmed coins of `wallet` that no session holds, nothing spent, and not quarantined,
/// largest first. Without their funding transactions: a wallet of many coins, each with a
/// funding transaction of many outputs, would otherwise decode all of them for every
/// session.
pub fn spendable(conn: &Connection, wallet: &str) -> Result<Vec<CoinRecord>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT txid, vout, branch, derivation_index, amount_sat FROM utxos \
         WHERE wallet = ?1 AND reserved_by_session IS NULL AND spent_by_txid IS NULL \
         AND quarantined = 0 AND block_height IS NOT NULL ORDER BY amount_sat DESC, txid, vout",
    )?;
    let rows = stmt.query_map([wallet], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, u32>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (txid, vout, branch, index, amount) = row?;
        let corrupt = |what: &str| DbError::Corrupt(format!("coin {txid}:{vout}: {what}"));
        Ok(CoinRecord {
            outpoint: OutPoint {
                txid: txid.parse().map_err(|_| corrupt("txid"))?,
                vout,
            },
            branch: Branch::from_number(branch).ok_or_else(|| corrupt("branch"))?,
            index,
            amount: sat_from_sql(amount)?,
        })
    })
    .collect()
}

/// The transaction that created `coin`, as stored, checked against the coin: its txid and
/// the amount at its output (the signers check the same).
pub fn funding_transaction(conn: &Connection, coin: &CoinRecord) -> Result<Transaction, DbError> {
    let outpoint = coin.outpoint;
    let corrupt = |what: &str| DbError::Corrupt(format!("coin {outpoint}: {what}"));
    let prev_tx: String = conn
        .query_row_cached(
            "SELECT prev_tx FROM utxos WHERE txid = ?1 AND vout = ?2",
            params![outpoint.txid.to_string(), outpoint.vout],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| corrupt("not recorded"))?;
    let prev_tx: Transaction = deserialize_hex(&prev_tx).map_err(|_| corrupt("funding transaction"))?;
    // The stored funding transaction is the truth the signers will check.
    let actual = usize::try_from(outpoint.vout)
        .ok()
        .and_then(|i| prev_tx.output.get(i))
        .map(|o| o.value);
    if prev_tx.compute_txid() != outpoint.txid || actual != Some(coin.amount) {
        return Err(corrupt("does not match its funding transaction"));
    }
    Ok(prev_tx)
}

/// Reserves a coin for a session; fails if anything else holds it.
pub fn reserve(conn: &Connection, outpoint: &OutPoint, session_id: u64) -> Result<(), DbError> {
    let changed = conn.execute_cached(
        "UPDATE utxos SET reserved_by_session = ?3 WHERE txid = ?1 AND vout = ?2 \
         AND reserved_by_session IS NULL AND spent_by_txid IS NULL AND quarantined = 0",
        params![
            outpoint.txid.to_string(),
            outpoint.vout,
            i64::try_from(session_id).unwrap_or(-1)
        ],
    )?;
    if changed != 1 {
        return Err(DbError::Corrupt(format!(
            "coin {outpoint} was taken while it was being reserved"
        )));
    }
    Ok(())
}

/// Marks a known coin spent by `txid` in the block at `height`. Returns false if the
/// outpoint is not ours.
pub fn mark_spent(conn: &Connection, outpoint: &OutPoint, txid: &Txid, height: u32) -> Result<bool, DbError> {
    Ok(conn.execute_cached(
        "UPDATE utxos SET spent_by_txid = ?3, spent_at_height = ?4 WHERE txid = ?1 AND vout = ?2 AND spent_by_txid IS NULL",
        params![outpoint.txid.to_string(), outpoint.vout, txid.to_string(), height],
    )? == 1)
}

/// Spends recorded in blocks at `height` or above are undone (a reorg): the coin is
/// unspent again until a block of the new chain spends it.
pub fn unspend_from(conn: &Connection, height: u32) -> Result<usize, DbError> {
    Ok(conn.execute_cached(
        "UPDATE utxos SET spent_by_txid = NULL, spent_at_height = NULL WHERE spent_at_height >= ?1",
        [height],
    )?)
}

/// Who spent a coin on the applied chain, and at what height (`None`: unspent, or not
/// ours).
pub fn spend_of(conn: &Connection, outpoint: &OutPoint) -> Result<Option<(Txid, u32)>, DbError> {
    let row: Option<(Option<String>, Option<u32>)> = conn
        .query_row_cached(
            "SELECT spent_by_txid, spent_at_height FROM utxos WHERE txid = ?1 AND vout = ?2",
            params![outpoint.txid.to_string(), outpoint.vout],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        Some((Some(txid), Some(height))) => {
            let txid = txid
                .parse()
                .map_err(|_| DbError::Corrupt(format!("coin {outpoint}: spending txid")))?;
            Ok(Some((txid, height)))
        }
        _ => Ok(None),
    }
}

/// Coins whose funding transaction was in a block at `height` or above become
/// unconfirmed again (a reorg); they are spendable once they confirm anew.
pub fn unconfirm_from(conn: &Connection, height: u32) -> Result<usize, DbError> {
    Ok(conn.execute_cached(
        "UPDATE utxos SET block_height = NULL WHERE block_height >= ?1",
        [height],
    )?)
}
