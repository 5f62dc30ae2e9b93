//! What the cloud link keeps in the store: small `meta` values (the highest event `seq` the
//! broker acknowledged), the outbox retention sweep that says which events it dropped, and
//! the step that attaches a fetched file to a cloud job and makes it ready.

use super::sql::CachedSql;
use std::path::Path;

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::db::Db;
use super::lifecycle::Transition;
use super::rows;
use super::{Job, StoreError};
use crate::domain::JobId;
use crate::events::EventKind;
use crate::gcode::FileIntel;

/// Events the age sweep reads per query while looking for the first young one.
const AGE_SCAN_CHUNK: u32 = 512;

impl Db {
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(|w| {
            w.tx.exec(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![key, value],
            )?;
            Ok(())
        })
    }

    /// The job the cloud submitted under `cloud_id`.
    pub fn job_by_cloud_id(&self, cloud_id: &str) -> Result<Option<JobId>, StoreError> {
        Ok(self
            .conn()
            .row(
                "SELECT id FROM print_jobs WHERE cloud_job_id = ?1",
                [cloud_id],
                |r| r.get(0),
            )
            .optional()?
            .map(JobId))
    }

    /// The oldest `seq` still in the outbox, if any.
    pub fn first_seq(&self) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = self
            .conn()
            .row("SELECT min(seq) FROM events", [], |r| r.get(0))?;
        Ok(seq.map(|s| s as u64))
    }

    /// Drops the oldest unacknowledged events beyond `max_events` or older than `max_age`,
    /// and records `events:dropped` naming the range, in the same transaction. Returns the
    /// range dropped, if any.
    pub fn prune_outbox(
        &mut self,
        max_events: u64,
        max_age: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let Some(first) = self.first_seq()? else {
            return Ok(None);
        };
        let count: i64 = self
            .conn()
            .row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        let by_count = (count as u64)
            .checked_sub(max_events)
            .filter(|excess| *excess > 0)
            .map(|excess| self.nth_seq(excess - 1))
            .transpose()?;
        let by_age = self.last_seq_before(now - max_age)?;
        let Some(last) = by_count.max(by_age) else {
            return Ok(None);
        };
        self.write(|w| {
            w.tx.exec("DELETE FROM events WHERE seq <= ?1", [last as i64])?;
            w.emit(EventKind::EventsDropped { first, last })
        })?;
        Ok(Some((first, last)))
    }

    /// Records an event that comes with no other change (a remote update's step).
    pub fn record_event(&mut self, kind: EventKind) -> Result<u64, StoreError> {
        self.write(|w| w.emit(kind))
    }

    /// The `seq` of the outbox's `n`th event (0 = oldest).
    fn nth_seq(&self, n: u64) -> Result<u64, StoreError> {
        let seq: i64 = self.conn().row(
            "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?1",
            [n as i64],
            |r| r.get(0),
        )?;
        Ok(seq as u64)
    }

    /// The newest `seq` of the leading run of events stored before `cutoff` (events are
    /// stored in time order, so the scan stops at the first younger one).
    fn last_seq_before(&self, cutoff: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let mut found = None;
        let mut after = 0_i64;
        loop {
            let mut stmt = self.conn().prepare_cached(
                "SELECT seq, at FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows: Vec<(i64, String)> = stmt
                .query_map(params![after, AGE_SCAN_CHUNK], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            let full = rows.len() == AGE_SCAN_CHUNK as usize;
            for (seq, at) in rows {
                if rows::parse_time(&at)? >= cutoff {
                    return Ok(found);
                }
                found = Some(seq as u64);
                after = seq;
            }
            if !full {
                return Ok(found);
            }
        }
    }

    /// A cloud job's file arrived: record it with its analysis (when it was analysed), give
    /// the job the analysis's estimates, attach the file and apply `next` (the stage `ready`
    /// or `slicing`, or a failure when the file cannot print here), in one
    /// transaction (a job that left the queue meanwhile makes this fail, changing nothing).
    pub fn attach_fetched_file(
        &mut self,
        job: JobId,
        display_name: &str,
        path: &Path,
        (sha256, size): (&str, u64),
        intel: Option<&FileIntel>,
        next: Transition,
    ) -> Result<Job, StoreError> {
        self.write(|w| {
            w.attach_new_file(job, display_name, path, (sha256, size), intel)?;
            w.queued_job(job)?;
            w.transition(job, next)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{PrinterId, QueuedStage};
    use crate::jobs::NewJob;
    use crate::jobs::test_support::db;

    fn emit_states(db: &mut Db, n: usize) {
        for _ in 0..n {
            db.printer_changed(
                &PrinterId("p".into()),
                &crate::domain::PrinterState::Idle,
                None,
            )
            .unwrap();
        }
    }

    #[test]
    fn meta_values_are_stored_and_overwritten() {
        let mut db = db();
        assert_eq!(db.meta("k").unwrap(), None);
        db.set_meta("k", "1").unwrap();
        db.set_meta("k", "2").unwrap();
        assert_eq!(db.meta("k").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn the_count_limit_drops_the_oldest_events_and_says_which() {
        let mut db = db();
        emit_states(&mut db, 10);
        let far = Duration::from_secs(86_400);
        let dropped = db.prune_outbox(4, far, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(dropped, Some((1, 6)));
        let left = db.events_after(0, 100).unwrap();
        assert_eq!(left.first().unwrap().seq, 7);
        assert_eq!(
            left.last().unwrap().kind,
            EventKind::EventsDropped { first: 1, last: 6 }
        );
        assert_eq!(
            db.prune_outbox(100, far, OffsetDateTime::now_utc())
                .unwrap(),
            None
        );
    }

    #[test]
    fn the_age_limit_drops_events_older_than_the_window() {
        let mut db = db();
        emit_states(&mut db, 3);
        let later = OffsetDateTime::now_utc() + Duration::from_secs(3600);
        let dropped = db
            .prune_outbox(1000, Duration::from_secs(60), later)
            .unwrap();
        assert_eq!(dropped, Some((1, 3)));
    }

    #[test]
    fn a_fetched_file_makes_a_fetching_job_ready() {
        let mut db = db();
        let job = db
            .submit(NewJob {
                file_name: "a.gcode".into(),
                stage: Some(QueuedStage::Fetching),
                ..NewJob::default()
            })
            .unwrap();
        let ready = db
            .attach_fetched_file(
                job.id,
                "a.gcode",
                Path::new("/tmp/a"),
                ("00", 2),
                None,
                Transition::Stage(QueuedStage::Ready),
            )
            .unwrap();
        assert_eq!(
            ready.status,
            crate::domain::JobStatus::Queued(QueuedStage::Ready)
        );
        assert!(ready.file.is_some());
    }
}
