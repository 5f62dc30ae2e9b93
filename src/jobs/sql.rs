//! Statements through the connection's prepared-statement cache.
//!
//! `Connection::execute` and `query_row` compile their SQL on every call; for the statements a
//! `job.submit` runs (a dozen per command) compiling cost more than running them. `exec` and
//! `row` look the compiled statement up by its text instead. The cache holds `CACHED_STATEMENTS`
//! statements, more than the store has distinct ones.

use rusqlite::{Connection, Params, Row};

/// Capacity of the connection's statement cache (set when the store opens the database).
pub(super) const CACHED_STATEMENTS: usize = 128;

/// `execute` and `query_row` with the statement taken from the cache.
pub(super) trait CachedSql {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl CachedSql for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
