//! Statements through the connection's prepared-statement cache.
//!
//! `Connection::execute` and `query_row` compile their SQL on every call; for the statements a
//! `job.submit` runs (a dozen per command) compiling cost more than running them. `exec` and
//! `row` look the compiled statement up by its text instead. The cache holds `CACHED_STATEMENTS`
//! statements, more than the store has distinct ones. [`Savepoint`] is rusqlite's savepoint
//! with its three statements from the cache too (rusqlite compiles them on every write).

use std::ops::Deref;

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

/// A savepoint that is rolled back when dropped unless `release`d, like `rusqlite::Savepoint`
/// with the default drop behaviour; it derefs to the connection for the statements inside it.
pub(super) struct Savepoint<'c> {
    conn: &'c Connection,
    released: bool,
}

impl<'c> Savepoint<'c> {
    pub(super) fn open(conn: &'c mut Connection) -> rusqlite::Result<Savepoint<'c>> {
        conn.exec("SAVEPOINT write", [])?;
        Ok(Savepoint {
            conn,
            released: false,
        })
    }

    /// Keeps the changes made under the savepoint (in the enclosing transaction).
    pub(super) fn release(mut self) -> rusqlite::Result<()> {
        self.conn.exec("RELEASE write", [])?;
        self.released = true;
        Ok(())
    }
}

impl Deref for Savepoint<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let undone = self
            .conn
            .exec("ROLLBACK TO write", [])
            .and_then(|_| self.conn.exec("RELEASE write", []));
        if let Err(e) = undone {
            tracing::error!(error = %e, "rolling back a failed write's savepoint");
        }
    }
}
