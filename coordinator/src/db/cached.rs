//! Prepared statements kept per connection. The coordinator's row reads and writes
//! (`db::*`, the services' queries) go through these and rusqlite's `prepare_cached`
//! instead of `Connection::execute`, `query_row` and `prepare`, which parse and plan
//! their statement (and compile the triggers it fires: the audit log's, the guards') on
//! every call. Measured before this (perf with call graphs, release, withdrawal
//! benchmark): about a third of the coordinator's CPU time was statement compiling
//! (docs/benchmarks.md). Left out: migrations, opening and the trigger check (once per
//! connection), backups and restores (their own connections).
//!
//! A kept statement is the same statement: SQLite re-prepares it by itself when the
//! schema changes, and rusqlite resets it and clears its bindings before it goes back to
//! the cache, so nothing of one call reaches the next.

use rusqlite::{Connection, Params, Row};

/// How many prepared statements a connection keeps (least recently used first out). The
/// coordinator has about 190 distinct statements; this holds every one a running
/// coordinator uses on its hot paths (intake, processor, signer API, sender, monitor)
/// with room to spare. rusqlite's default is 16.
pub(super) const STATEMENT_CACHE_CAPACITY: usize = 256;

/// `execute` and `query_row` through the connection's statement cache (for `prepare`,
/// rusqlite's own `Connection::prepare_cached`).
pub trait CachedSql {
    /// [`Connection::execute`], with the statement prepared once per connection.
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// [`Connection::query_row`], with the statement prepared once per connection.
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl CachedSql for Connection {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
