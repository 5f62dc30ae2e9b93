//! Queue operations: submit, list, apply a lifecycle transition, claim the next job for a
//! printer, reorder, recover after a restart, and the bed-clear interlock. Each write is one
//! transaction that also stores the events it causes.

use super::sql::CachedSql;
use rusqlite::{OptionalExtension, params};

use super::db::{Db, Writer};
use super::lifecycle::{self, Transition};
use super::rows::{self, JOB_COLUMNS};
use super::{Job, JobFilter, JobSource, NewJob, StoreError};
use crate::config::BuildVolume;
use crate::domain::{JobId, JobStatus, PrinterId, PrinterState, QueuedStage};
use crate::events::EventKind;

/// Whether a printer's bed may take the next job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedState {
    Clear,
    /// A job ended on it (`None` when the job is unknown, e.g. after a crash).
    NeedsClearing {
        last_job: Option<JobId>,
    },
}

/// Why the gateway marks jobs it finds on a printer at start-up.
pub const INTERRUPTED_BY_RESTART: &str = "the gateway stopped while the job was on the printer";

impl Writer<'_> {
    /// Inserts a job at the end of the queue and stores `job:queued`.
    pub fn insert_job(&mut self, new: NewJob) -> Result<Job, StoreError> {
        if let Some(cloud_id) = &new.cloud_job_id {
            let taken: Option<i64> = self
                .tx
                .row(
                    "SELECT id FROM print_jobs WHERE cloud_job_id = ?1",
                    [cloud_id],
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                return Err(StoreError::DuplicateCloudJob(cloud_id.clone()));
            }
        }
        let stage = new.stage.unwrap_or(QueuedStage::Ready);
        let now = self.now_text();
        self.tx.exec(
            "INSERT INTO print_jobs (cloud_job_id, project_id, file_name, file_id, status, stage, \
             progress, printer_id, material_type, quality, print_settings, source, queue_position, \
             model_size, estimated_time, estimated_cost, queued_at, updated_at, print_options) \
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, 0, ?6, ?7, ?8, ?9, ?10, \
             (SELECT coalesce(max(queue_position), 0) + 1 FROM print_jobs), ?11, ?12, ?13, ?14, ?14, ?15)",
            params![
                new.cloud_job_id,
                new.project_id,
                new.file_name,
                new.file.map(|f| f.0),
                stage.as_str(),
                new.printer.as_ref().map(|p| p.as_str()),
                new.material,
                new.quality,
                new.print_settings,
                new.source.unwrap_or(JobSource::Lan).as_str(),
                new.model_size_mm.map(|s| serde_json::json!(s).to_string()),
                new.estimated_time_s.map(|t| t as i64),
                new.estimated_cost,
                now,
                (new.options.as_ref()).map(|o| serde_json::json!(o).to_string()),
            ],
        )?;
        let job = self.job(JobId(self.tx.last_insert_rowid()))?;
        self.emit(EventKind::JobQueued(job.to_ref()))?;
        Ok(job)
    }

    /// Applies a lifecycle transition and stores `print:status-update` when anything a
    /// listener sees changed (a repeated progress value is not news).
    pub fn transition(&mut self, id: JobId, transition: Transition) -> Result<Job, StoreError> {
        let before = self.job(id)?;
        let status = lifecycle::next(&before.status, transition.clone())
            .map_err(|source| StoreError::Illegal { job: id, source })?;
        if status == before.status {
            return Ok(before);
        }
        let (name, stage, progress, error) = rows::status_columns(&status);
        let now = self.now_text();
        let started = matches!(transition, Transition::Start).then_some(now);
        let ended = status.is_final().then_some(now);
        self.tx.exec(
            "UPDATE print_jobs SET status = ?2, stage = ?3, progress = ?4, error = ?5, \
             started_at = coalesce(?6, started_at), completed_at = coalesce(?7, completed_at), \
             updated_at = ?8 WHERE id = ?1",
            params![id.0, name, stage, progress, error, started, ended, now],
        )?;
        let job = self.job(id)?;
        self.emit(EventKind::JobStatus(job.to_ref()))?;
        Ok(job)
    }

    /// The job, if it is still queued (else `NotQueued`: a printer took it, or it ended).
    pub fn queued_job(&self, id: JobId) -> Result<Job, StoreError> {
        let job = self.job(id)?;
        match job.status {
            JobStatus::Queued(_) => Ok(job),
            ref status => Err(StoreError::NotQueued {
                job: id,
                status: status.as_str(),
            }),
        }
    }

    pub fn set_printer(&mut self, id: JobId, printer: &PrinterId) -> Result<(), StoreError> {
        self.tx.exec(
            "UPDATE print_jobs SET printer_id = ?2 WHERE id = ?1",
            params![id.0, printer.as_str()],
        )?;
        Ok(())
    }

    pub fn set_bed(&mut self, printer: &PrinterId, bed: BedState) -> Result<(), StoreError> {
        let (needed, last) = match bed {
            BedState::Clear => (false, None),
            BedState::NeedsClearing { last_job } => (true, last_job.map(|j| j.0)),
        };
        self.tx.exec(
            "INSERT INTO printers (id, bed_clear_needed, last_job) VALUES (?1, ?2, ?3) \
             ON CONFLICT(id) DO UPDATE SET bed_clear_needed = ?2, last_job = ?3",
            params![printer.as_str(), needed, last],
        )?;
        Ok(())
    }

    /// The queued jobs one printer's queue shows, in order: those assigned to it, or, for
    /// `None`, those not assigned yet.
    fn queue_of(&self, printer: Option<&PrinterId>) -> Result<Vec<(JobId, i64)>, StoreError> {
        let mut stmt = self.tx.prepare(
            "SELECT id, queue_position FROM print_jobs WHERE status = 'queued' \
             AND printer_id IS ?1 ORDER BY queue_position, id",
        )?;
        let rows = stmt.query_map([printer.map(|p| p.as_str())], |r| {
            Ok((JobId(r.get(0)?), r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Db {
    pub fn submit(&mut self, new: NewJob) -> Result<Job, StoreError> {
        self.write(|w| w.insert_job(new))
    }

    pub fn transition(&mut self, id: JobId, transition: Transition) -> Result<Job, StoreError> {
        self.write(|w| w.transition(id, transition))
    }

    /// Jobs newest first, filtered.
    pub fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM print_jobs WHERE (?1 IS NULL OR status = ?1) \
             AND (?2 IS NULL OR printer_id = ?2) AND (?3 IS NULL OR id < ?3) \
             ORDER BY id DESC LIMIT ?4"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(
            params![
                filter.status,
                filter.printer.as_ref().map(|p| p.as_str()),
                filter.before.map(|j| j.0),
                filter.limit.max(1)
            ],
            rows::job_from_row,
        )?;
        rows.map(|r| r?).collect()
    }

    /// How many jobs are in each status (`queued`, `printing`, …); absent statuses have none.
    pub fn count_by_status(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT status, COUNT(*) FROM print_jobs GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Queued jobs in the order they will print (assigned or not).
    pub fn queued(&self) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM print_jobs WHERE status = 'queued' ORDER BY queue_position, id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], rows::job_from_row)?;
        rows.map(|r| r?).collect()
    }

    /// Queued jobs waiting in `stage` (for their download, for the slicer), in queue order.
    pub fn waiting_jobs(&self, stage: QueuedStage) -> Result<Vec<Job>, StoreError> {
        let waiting = JobStatus::Queued(stage);
        Ok(self
            .queued()?
            .into_iter()
            .filter(|job| job.status == waiting)
            .collect())
    }

    /// Fails every job waiting in `stage` with `reason`, in one transaction; returns them.
    pub fn fail_waiting_jobs(
        &mut self,
        stage: QueuedStage,
        reason: &str,
    ) -> Result<Vec<Job>, StoreError> {
        let waiting = self.waiting_jobs(stage)?;
        self.write(|w| {
            (waiting.iter())
                .map(|job| w.transition(job.id, Transition::Fail(reason.to_owned())))
                .collect()
        })
    }

    /// Takes the next ready job for `printer` — its own, or an unassigned one that fits —
    /// and starts it, in one transaction, so two printers never take the same job. A
    /// printer that does not print sliced Bambu projects (`prints_projects` false) never
    /// takes one, even one assigned to it (the intake fails such a job at once).
    pub fn claim_next(
        &mut self,
        printer: &PrinterId,
        volume: &BuildVolume,
        prints_projects: bool,
    ) -> Result<Option<Job>, StoreError> {
        let mut candidate = None;
        for job in self.queued()? {
            let mine = job.status == JobStatus::Queued(QueuedStage::Ready)
                && match &job.printer {
                    Some(p) => p == printer,
                    None => job.fits(volume),
                };
            if mine && (prints_projects || !self.is_project(&job)?) {
                candidate = Some(job);
                break;
            }
        }
        let Some(job) = candidate else {
            return Ok(None);
        };
        self.write(|w| {
            w.set_printer(job.id, printer)?;
            w.transition(job.id, Transition::Start).map(Some)
        })
    }

    /// Whether a ready job's file is a sliced Bambu project: a stored `.3mf` that is ready
    /// is one, as a model only ever becomes ready through its sliced G-code.
    fn is_project(&self, job: &Job) -> Result<bool, StoreError> {
        let Some(file) = job.file else {
            return Ok(false);
        };
        let path: Option<String> = self
            .conn()
            .row("SELECT path FROM files WHERE id = ?1", [file.0], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(path.is_some_and(|p| p.to_ascii_lowercase().ends_with(".3mf")))
    }

    /// Moves a queued job to `index` (0 = next) within its queue; the other jobs keep their
    /// relative order and their slots relative to other printers' queues.
    pub fn move_job(&mut self, id: JobId, index: usize) -> Result<Vec<JobId>, StoreError> {
        self.write(|w| {
            let job = w.queued_job(id)?;
            let queue = w.queue_of(job.printer.as_ref())?;
            let slots: Vec<i64> = queue.iter().map(|(_, pos)| *pos).collect();
            let mut order: Vec<JobId> = queue
                .into_iter()
                .map(|(j, _)| j)
                .filter(|j| *j != id)
                .collect();
            order.insert(index.min(order.len()), id);
            let mut sorted = slots;
            sorted.sort_unstable();
            for (job, pos) in order.iter().zip(sorted) {
                w.tx.exec(
                    "UPDATE print_jobs SET queue_position = ?2 WHERE id = ?1",
                    params![job.0, pos],
                )?;
            }
            w.emit(EventKind::QueueReordered {
                printer: job.printer.clone(),
                order: order.clone(),
            })?;
            Ok(order)
        })
    }

    /// At start-up: every job still printing or paused was cut off by the crash. It becomes
    /// `interrupted` (with an event), and its printer's bed needs clearing.
    pub fn recover_after_restart(&mut self) -> Result<Vec<Job>, StoreError> {
        self.recover_after_restart_except(&[])
    }

    /// As [`recover_after_restart`](Self::recover_after_restart), but jobs on the printers
    /// in `reattach` stay as they are: their drivers follow the print after the restart.
    pub fn recover_after_restart_except(
        &mut self,
        reattach: &[PrinterId],
    ) -> Result<Vec<Job>, StoreError> {
        let on_printer: Vec<JobId> = {
            let mut stmt = self.conn().prepare(
                "SELECT id, printer_id FROM print_jobs WHERE status IN ('printing', 'paused') \
                 ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((JobId(r.get(0)?), r.get::<_, Option<String>>(1)?))
            })?;
            let mut ids = Vec::new();
            for row in rows {
                let (id, printer) = row?;
                if !printer.is_some_and(|p| reattach.iter().any(|r| r.as_str() == p)) {
                    ids.push(id);
                }
            }
            ids
        };
        self.write(|w| {
            let mut jobs = Vec::new();
            for id in on_printer {
                let job = w.transition(id, Transition::Interrupt(INTERRUPTED_BY_RESTART.into()))?;
                if let Some(printer) = &job.printer {
                    w.set_bed(printer, BedState::NeedsClearing { last_job: Some(id) })?;
                }
                jobs.push(job);
            }
            Ok(jobs)
        })
    }

    pub fn bed(&self, printer: &PrinterId) -> Result<BedState, StoreError> {
        let row: Option<(bool, Option<i64>)> = self
            .conn()
            .row(
                "SELECT bed_clear_needed, last_job FROM printers WHERE id = ?1",
                [printer.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((true, last)) => BedState::NeedsClearing {
                last_job: last.map(JobId),
            },
            _ => BedState::Clear,
        })
    }

    /// Records the printer's new state (and its bed) with a `printer:state` event.
    pub fn printer_changed(
        &mut self,
        printer: &PrinterId,
        state: &PrinterState,
        bed: Option<BedState>,
    ) -> Result<(), StoreError> {
        self.write(|w| {
            if let Some(bed) = bed {
                w.set_bed(printer, bed)?;
            }
            w.emit(EventKind::PrinterState {
                printer: printer.clone(),
                state: state.clone(),
            })
            .map(drop)
        })
    }

    /// Cancels a job only while it is still queued.
    pub fn cancel_queued(&mut self, id: JobId) -> Result<Job, StoreError> {
        self.write(|w| {
            w.queued_job(id)?;
            w.transition(id, Transition::Cancel)
        })
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
