//! The events outbox, the processed-command ledger and the stored-files table.
//!
//! Events stay in the outbox until a cumulative acknowledgement covers them; a listener that
//! missed some (a lagging WebSocket, the cloud after an outage) reads them again by `seq`.
//! Command ids make commands idempotent: the first reply is stored with the command's effect,
//! in the same transaction, and a repeated id gets that reply back.

use super::sql::CachedSql;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};

use super::db::{Db, Writer};
use super::rows::{self};
use super::{FileId, StoreError, StoredFile};
use crate::domain::JobId;
use crate::events::Event;
use crate::gcode::FileIntel;

impl Db {
    /// Events with `seq > after`, oldest first, at most `limit`.
    pub fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT seq, at, type, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after as i64, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (seq, at, type_name, payload) = row?;
            Ok(Event {
                seq: seq as u64,
                at: rows::parse_time(&at)?,
                kind: rows::decode_event(&type_name, &payload)?,
            })
        })
        .collect()
    }

    /// The newest `seq` handed out so far (0 when none).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .conn()
            .row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// How many events the outbox holds (not yet acknowledged, not yet expired).
    pub fn outbox_depth(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The cloud has every event up to `seq`: they may leave the outbox.
    pub fn ack_events(&mut self, seq: u64) -> Result<usize, StoreError> {
        self.write(|w| {
            Ok(w.tx.exec("DELETE FROM events WHERE seq <= ?1", [seq as i64])?)
        })
    }

    /// The reply stored for a command id, if that command was processed before.
    pub fn command_reply(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .row("SELECT reply FROM commands WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn file(&self, id: FileId) -> Result<Option<StoredFile>, StoreError> {
        Ok(self
            .conn()
            .row(
                "SELECT id, display_name, path, sha256, size FROM files WHERE id = ?1",
                [id.0],
                |r| {
                    Ok(StoredFile {
                        id: FileId(r.get(0)?),
                        display_name: r.get(1)?,
                        path: PathBuf::from(r.get::<_, String>(2)?),
                        sha256: r.get(3)?,
                        size: r.get::<_, i64>(4)? as u64,
                    })
                },
            )
            .optional()?)
    }
}

impl Writer<'_> {
    /// Stores the reply to a command id (with the command's effect, in this transaction).
    pub fn remember_command(&mut self, id: &str, reply: &str) -> Result<(), StoreError> {
        self.tx.exec(
            "INSERT INTO commands (id, reply, at) VALUES (?1, ?2, ?3)",
            params![id, reply, self.now_text()],
        )?;
        Ok(())
    }

    /// Records a file already written to disk.
    pub fn add_file(
        &mut self,
        display_name: &str,
        path: &std::path::Path,
        sha256: &str,
        size: u64,
    ) -> Result<StoredFile, StoreError> {
        let path_text = path.to_str().ok_or_else(|| {
            StoreError::Decode(format!("stored file path {} is not UTF-8", path.display()))
        })?;
        self.tx.exec(
            "INSERT INTO files (display_name, path, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![display_name, path_text, sha256, size as i64, self.now_text()],
        )?;
        Ok(StoredFile {
            id: FileId(self.tx.last_insert_rowid()),
            display_name: display_name.to_owned(),
            path: path.to_path_buf(),
            sha256: sha256.to_owned(),
            size,
        })
    }

    /// Records a file already written to disk, with its analysis if there is one, and makes it
    /// `job`'s file (the analysis's estimates become the job's).
    pub(super) fn attach_new_file(
        &mut self,
        job: JobId,
        display_name: &str,
        path: &std::path::Path,
        (sha256, size): (&str, u64),
        intel: Option<&FileIntel>,
    ) -> Result<StoredFile, StoreError> {
        let file = self.add_file(display_name, path, sha256, size)?;
        if let Some(intel) = intel {
            self.save_file_intel(file.id, intel)?;
            self.set_job_estimate(job, intel)?;
        }
        self.tx.exec(
            "UPDATE print_jobs SET file_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![job.0, file.id.0, self.now_text()],
        )?;
        Ok(file)
    }
}
