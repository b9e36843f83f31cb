//! Fee schedules (per asset) and per-customer daily limits (per asset).

use super::cached::CachedSql;
use bitcoin::Amount;
use rusqlite::{params, Connection, OptionalExtension};

use super::{sat_from_sql, sat_to_sql, DbError};
use crate::rules::fees::FeeSchedule;
use crate::time::UnixTime;

pub fn fee_schedule(conn: &Connection, asset: &str) -> Result<Option<FeeSchedule>, DbError> {
    let row: Option<(String, Option<i64>, Option<i64>)> = conn
        .query_row_cached(
            "SELECT kind, flat_sat, basis_points FROM fee_schedules WHERE asset = ?1",
            [asset],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((kind, flat, bps)) = row else {
        return Ok(None);
    };
    let schedule = match (kind.as_str(), flat, bps) {
        ("flat", Some(sat), None) => FeeSchedule::Flat(sat_from_sql(sat)?),
        ("percent", None, Some(bps)) => FeeSchedule::Percent {
            basis_points: u32::try_from(bps)
                .map_err(|_| DbError::Corrupt(format!("fee schedule {asset}: {bps} basis points")))?,
        },
        _ => return Err(DbError::Corrupt(format!("fee schedule {asset} is malformed"))),
    };
    Ok(Some(schedule))
}

pub fn set_fee_schedule(
    conn: &Connection,
    asset: &str,
    schedule: &FeeSchedule,
    now: UnixTime,
    by: &str,
) -> Result<(), DbError> {
    let (kind, flat, bps): (&str, Option<i64>, Option<i64>) = match *schedule {
        FeeSchedule::Flat(fee) => ("flat", Some(sat_to_sql(fee)?), None),
        FeeSchedule::Percent { basis_points } => ("percent", None, Some(i64::from(basis_points))),
    };
    conn.execute_cached(
        "INSERT INTO fee_schedules (asset, kind, flat_sat, basis_points, updated_at, updated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT(asset) DO UPDATE SET kind = excluded.kind, flat_sat = excluded.flat_sat, \
         basis_points = excluded.basis_points, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![asset, kind, flat, bps, now.secs(), by],
    )?;
    Ok(())
}

pub fn customer_daily_limit(
    conn: &Connection,
    customer_id: &str,
    asset: &str,
) -> Result<Option<Amount>, DbError> {
    conn.query_row_cached(
        "SELECT daily_limit_sat FROM customer_limits WHERE customer_id = ?1 AND asset = ?2",
        [customer_id, asset],
        |r| r.get::<_, i64>(0),
    )
    .optional()?
    .map(sat_from_sql)
    .transpose()
}

pub fn set_customer_daily_limit(
    conn: &Connection,
    customer_id: &str,
    asset: &str,
    limit: Amount,
    now: UnixTime,
    by: &str,
) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO customer_limits (customer_id, asset, daily_limit_sat, updated_at, updated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(customer_id, asset) DO UPDATE SET daily_limit_sat = excluded.daily_limit_sat, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![customer_id, asset, sat_to_sql(limit)?, now.secs(), by],
    )?;
    Ok(())
}
