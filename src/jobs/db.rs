//! The connection as the store thread sees it: reads go straight to SQLite, every change goes
//! through `Db::write`, which runs in one immediate transaction and records the events that
//! change produced. Events are handed to the fan-out only after the commit succeeded.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use super::rows::{self, JOB_COLUMNS};
use super::{Job, StoreError};
use crate::domain::JobId;
use crate::events::{Event, EventKind};

pub struct Db {
    conn: Connection,
    committed: Vec<Event>,
}

/// An open write transaction.
pub struct Writer<'c> {
    pub(super) tx: rusqlite::Transaction<'c>,
    events: Vec<Event>,
    pub(super) now: OffsetDateTime,
}

impl Db {
    pub(super) fn new(conn: Connection) -> Db {
        Db {
            conn,
            committed: Vec::new(),
        }
    }

    /// Runs `f` in one transaction; commits when it returns `Ok`, rolls back otherwise.
    pub fn write<R>(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut writer = Writer {
            tx,
            events: Vec::new(),
            now: OffsetDateTime::now_utc(),
        };
        let result = f(&mut writer)?;
        let Writer { tx, events, .. } = writer;
        tx.commit()?;
        self.committed.extend(events);
        Ok(result)
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
        self.tx.execute(
            "INSERT INTO events (at, type, payload) VALUES (?1, ?2, ?3)",
            params![rows::time_text(self.now), kind.type_name(), payload],
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
}

pub(super) fn find_job(conn: &Connection, id: JobId) -> Result<Option<Job>, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM print_jobs WHERE id = ?1");
    conn.query_row(&sql, [id.0], rows::job_from_row)
        .optional()?
        .transpose()
}
