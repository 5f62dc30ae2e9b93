//! The connection as the store thread sees it: reads go straight to SQLite, every change goes
//! through `Db::write`, which runs under its own savepoint and records the events that change
//! produced.
//!
//! The store thread groups requests into batches (`open_batch` / `close_batch`): the first
//! write of a batch begins one immediate transaction, each `write` is a savepoint inside it
//! (one that fails is rolled back alone), and the batch commits once — one fsync for all of
//! them. Events are handed to the fan-out only after that commit. Outside a batch (tests,
//! tools) a `write` is a batch of its own.

use super::sql::{CachedSql, Savepoint};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::rows::{self, JOB_COLUMNS};
use super::{BatchError, Job, StoreError};
use crate::domain::JobId;
use crate::events::{Event, EventKind};

pub struct Db {
    conn: Connection,
    batch: bool,
    /// The open batch began a transaction (a write happened).
    began: bool,
    /// Events of the open batch's released savepoints, waiting for its commit.
    pending: Vec<Event>,
    committed: Vec<Event>,
}

/// An open write: a savepoint in the batch's transaction.
pub struct Writer<'c> {
    pub(super) tx: Savepoint<'c>,
    events: Vec<Event>,
    pub(super) now: OffsetDateTime,
    /// `now` as stored (RFC 3339), formatted once per write.
    now_text: String,
}

impl Db {
    pub(super) fn new(conn: Connection) -> Db {
        Db {
            conn,
            batch: false,
            began: false,
            pending: Vec::new(),
            committed: Vec::new(),
        }
    }

    /// Runs `f` under a savepoint: its changes stay when it returns `Ok` and are rolled back
    /// alone otherwise. Inside a batch they become durable with the batch's commit; outside
    /// one, before this returns.
    pub fn write<R>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if self.batch {
            return self.write_in_batch(f);
        }
        self.open_batch();
        let result = self.write_in_batch(f);
        let committed = self.close_batch();
        let value = result?;
        committed?;
        Ok(value)
    }

    fn write_in_batch<R>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if self.conn.is_autocommit() {
            if self.began {
                // SQLite ended the batch's transaction itself (an I/O error, a full disk):
                // the earlier writes of the batch are gone, so nothing more is written in it.
                return Err(BatchError::RolledBack.into());
            }
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.began = true;
        }
        let now = OffsetDateTime::now_utc();
        let mut writer = Writer {
            tx: Savepoint::open(&mut self.conn)?,
            events: Vec::new(),
            now,
            now_text: rows::time_text(now),
        };
        // On `Err` the writer is dropped here, which rolls its savepoint back.
        let result = f(&mut writer)?;
        let Writer { tx, events, .. } = writer;
        tx.release()?;
        self.pending.extend(events);
        Ok(result)
    }

    /// Starts grouping writes: they share one transaction until `close_batch`.
    pub(super) fn open_batch(&mut self) {
        self.batch = true;
    }

    /// Commits the batch's transaction, if a write began one, and moves its events to the
    /// committed list. When the commit fails, every change of the batch is rolled back and
    /// its events are forgotten (their `seq`s were never seen and are handed out again).
    pub(super) fn close_batch(&mut self) -> Result<(), BatchError> {
        self.batch = false;
        let outcome = match (std::mem::take(&mut self.began), self.conn.is_autocommit()) {
            (false, _) => Ok(()),
            (true, true) => Err(BatchError::RolledBack),
            (true, false) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(BatchError::Commit),
        };
        match outcome {
            Ok(()) => self.committed.append(&mut self.pending),
            Err(_) => {
                self.pending.clear();
                if !self.conn.is_autocommit()
                    && let Err(e) = self.conn.execute_batch("ROLLBACK")
                {
                    tracing::error!(error = %e, "rolling back a batch that did not commit");
                }
            }
        }
        outcome
    }

    /// Whether changes are waiting for the batch's commit (a result read now may describe them).
    pub(super) fn uncommitted(&self) -> bool {
        !self.conn.is_autocommit()
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn job(&self, id: JobId) -> Result<Job, StoreError> {
        find_job(&self.conn, id)?.ok_or(StoreError::JobNotFound(id))
    }

    pub(super) fn take_committed(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.committed)
    }

    pub(super) fn close(self) -> Result<(), rusqlite::Error> {
        // Fold the WAL back into the main file so the next start (or a copy of the file)
        // needs nothing else.
        self.conn
            .pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        self.conn.close().map_err(|(_, e)| e)
    }
}

impl Writer<'_> {
    /// Stores an event in the outbox and returns it with its `seq`.
    pub fn emit(&mut self, kind: EventKind) -> Result<u64, StoreError> {
        let payload = rows::encode_event(&kind);
        self.tx.exec(
            "INSERT INTO events (at, type, payload) VALUES (?1, ?2, ?3)",
            params![self.now_text, kind.type_name(), payload],
        )?;
        let seq = self.tx.last_insert_rowid() as u64;
        self.events.push(Event {
            seq,
            at: self.now,
            kind,
        });
        Ok(seq)
    }

    pub fn job(&self, id: JobId) -> Result<Job, StoreError> {
        find_job(&self.tx, id)?.ok_or(StoreError::JobNotFound(id))
    }

    /// The write's time as stored (RFC 3339).
    pub(super) fn now_text(&self) -> &str {
        &self.now_text
    }
}

pub(super) fn find_job(conn: &Connection, id: JobId) -> Result<Option<Job>, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM print_jobs WHERE id = ?1");
    conn.row(&sql, [id.0], rows::job_from_row)
        .optional()?
        .transpose()
}
