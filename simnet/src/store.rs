//! Optional persistence (`--data-dir`): every block simnet ever accepted, in arrival order
//! (forks included, so the same chain wins after a restart), the blocks invalidated by
//! hand, and the mempool. At start the blocks are replayed through full validation.

use std::path::{Path, PathBuf};

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Transaction, Txid};
use rusqlite::{params, Connection};

const SCHEMA_VERSION: i64 = 1;
const FILE_NAME: &str = "simnet.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("simnet data in {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("simnet data in {path}: cannot create the directory: {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("simnet data in {path} has schema version {found}; this simnet reads version {SCHEMA_VERSION}")]
    Schema { path: PathBuf, found: i64 },
    #[error("simnet data in {path}: stored {what} does not decode: {reason}")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
}

/// Everything stored, in the order to replay it.
#[derive(Debug, Default)]
pub struct Stored {
    pub blocks: Vec<Block>,
    pub invalidated: Vec<BlockHash>,
    pub mempool: Vec<Transaction>,
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    db: Connection,
}

impl Store {
    /// Opens (or creates) `DIR/simnet.sqlite`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let db = Connection::open(&path).map_err(sql)?;
        // WAL + NORMAL: a crash loses at most the last moments, never consistency; simnet
        // is a development chain, its durability need is "survive a restart".
        db.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        db.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        let version: i64 = db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        match version {
            0 => db
                .execute_batch(
                    "BEGIN;
                     CREATE TABLE blocks (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, raw BLOB NOT NULL);
                     CREATE TABLE invalidated (hash BLOB PRIMARY KEY);
                     CREATE TABLE mempool (txid BLOB PRIMARY KEY, raw BLOB NOT NULL);
                     PRAGMA user_version = 1;
                     COMMIT;",
                )
                .map_err(sql)?,
            SCHEMA_VERSION => {}
            found => return Err(StoreError::Schema { path, found }),
        }
        Ok(Store { path, db })
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: &'static str, reason: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
            reason: reason.to_string(),
        }
    }

    pub fn load(&self) -> Result<Stored, StoreError> {
        let mut stored = Stored::default();
        let mut query = self
            .db
            .prepare("SELECT raw FROM blocks ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let rows = query
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.sql(e))?;
        for raw in rows {
            let raw = raw.map_err(|e| self.sql(e))?;
            stored
                .blocks
                .push(deserialize(&raw).map_err(|e| self.corrupt("block", e))?);
        }
        let mut query = self
            .db
            .prepare("SELECT hash FROM invalidated")
            .map_err(|e| self.sql(e))?;
        let rows = query
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.sql(e))?;
        for raw in rows {
            let raw = raw.map_err(|e| self.sql(e))?;
            stored
                .invalidated
                .push(BlockHash::from_slice(&raw).map_err(|e| self.corrupt("block hash", e))?);
        }
        let mut query = self
            .db
            .prepare("SELECT raw FROM mempool ORDER BY rowid")
            .map_err(|e| self.sql(e))?;
        let rows = query
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.sql(e))?;
        for raw in rows {
            let raw = raw.map_err(|e| self.sql(e))?;
            stored
                .mempool
                .push(deserialize(&raw).map_err(|e| self.corrupt("transaction", e))?);
        }
        Ok(stored)
    }

    pub fn add_block(&self, block: &Block) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT OR IGNORE INTO blocks (hash, raw) VALUES (?1, ?2)",
                params![block.block_hash().as_byte_array().as_slice(), serialize(block)],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    pub fn set_invalidated(&self, hash: &BlockHash, invalid: bool) -> Result<(), StoreError> {
        let statement = if invalid {
            "INSERT OR IGNORE INTO invalidated (hash) VALUES (?1)"
        } else {
            "DELETE FROM invalidated WHERE hash = ?1"
        };
        self.db
            .execute(statement, params![hash.as_byte_array().as_slice()])
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Adds and removes mempool transactions, in one SQLite transaction.
    pub fn update_mempool(
        &mut self,
        added: &[(Txid, &Transaction)],
        removed: &[Txid],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let db = self.db.transaction().map_err(sql)?;
        {
            let mut delete = db.prepare("DELETE FROM mempool WHERE txid = ?1").map_err(sql)?;
            for txid in removed {
                delete
                    .execute(params![txid.as_byte_array().as_slice()])
                    .map_err(sql)?;
            }
            let mut insert = db
                .prepare("INSERT OR REPLACE INTO mempool (txid, raw) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (txid, tx) in added {
                insert
                    .execute(params![txid.as_byte_array().as_slice(), serialize(*tx)])
                    .map_err(sql)?;
            }
        }
        db.commit().map_err(sql)
    }
}
