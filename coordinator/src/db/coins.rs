//! The wallets' coins as operators look at them (`wallet balance`, `coin list`); what
//! coin selection may spend is `utxos::spendable`.

use rusqlite::{params, Connection};
use sluice_shared::api::{Coin, CoinState};

use super::{sat_from_sql, DbError};

/// A wallet's coins (or every wallet's), unspent ones only unless `include_spent`.
pub fn list(conn: &Connection, wallet: Option<&str>, include_spent: bool) -> Result<Vec<Coin>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT wallet, txid, vout, amount_sat, block_height, quarantined, reserved_by_session, spent_by_txid \
         FROM utxos WHERE (?1 IS NULL OR wallet = ?1) AND (?2 OR spent_by_txid IS NULL) \
         ORDER BY wallet, block_height IS NULL, block_height, txid, vout",
    )?;
    let rows = stmt.query_map(params![wallet, include_spent], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<u32>>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, Option<i64>>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    rows.map(|row| {
        let (wallet, txid, vout, amount, block_height, quarantined, reserved, spent) = row?;
        let state = match (&spent, quarantined, reserved, block_height) {
            (Some(_), _, _, _) => CoinState::Spent,
            (None, true, _, _) => CoinState::Quarantined,
            (None, false, Some(_), _) => CoinState::Reserved,
            (None, false, None, None) => CoinState::Unconfirmed,
            (None, false, None, Some(_)) => CoinState::Spendable,
        };
        Ok(Coin {
            wallet,
            txid,
            vout,
            amount_sat: sat_from_sql(amount)?,
            state,
            block_height,
            reserved_by_session: reserved.map(|id| u64::try_from(id).unwrap_or_default()),
            spent_by_txid: spent,
        })
    })
    .collect()
}
