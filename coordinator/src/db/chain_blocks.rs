//! The blocks of the active chain the monitor has applied, by height.

use super::cached::CachedSql;
use bitcoin::BlockHash;
use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::time::UnixTime;

/// The highest applied block.
pub fn tip(conn: &Connection) -> Result<Option<(u32, BlockHash)>, DbError> {
    let row: Option<(u32, String)> = conn
        .query_row_cached(
            "SELECT height, hash FROM chain_blocks ORDER BY height DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(height, hash)| {
        let hash = hash
            .parse()
            .map_err(|_| DbError::Corrupt(format!("block hash at height {height}")))?;
        Ok((height, hash))
    })
    .transpose()
}

pub fn hash_at(conn: &Connection, height: u32) -> Result<Option<BlockHash>, DbError> {
    let hash: Option<String> = conn
        .query_row_cached("SELECT hash FROM chain_blocks WHERE height = ?1", [height], |r| {
            r.get(0)
        })
        .optional()?;
    hash.map(|h| {
        h.parse()
            .map_err(|_| DbError::Corrupt(format!("block hash at height {height}")))
    })
    .transpose()
}

pub fn insert(conn: &Connection, height: u32, hash: &BlockHash, now: UnixTime) -> Result<(), DbError> {
    conn.execute_cached(
        "INSERT INTO chain_blocks (height, hash, applied_at) VALUES (?1, ?2, ?3)",
        params![height, hash.to_string(), now.secs()],
    )?;
    Ok(())
}

/// Forgets the blocks above `height` (they left the active chain).
pub fn truncate_above(conn: &Connection, height: u32) -> Result<(), DbError> {
    conn.execute_cached("DELETE FROM chain_blocks WHERE height > ?1", [height])?;
    Ok(())
}
