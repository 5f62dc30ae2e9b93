//! The gateway's one command surface: both doors (the LAN API and the cloud link) and the
//! slicer call these methods with the same typed arguments, so no feature exists on one door
//! only, and nothing but the gateway reaches the job store.
//!
//! - this file: the commands (submit, cancel, pause, resume, move, bed cleared, stop) and
//!   `CommandError`, whose `code()` both doors put on the wire;
//! - [`intake`]: the one pipeline by which a file becomes a job's file (LAN upload, cloud
//!   download, slicer output);
//! - [`options`]: a job's print options checked against its file and printer;
//! - [`reads`]: typed reads of jobs, files and thumbnails;
//! - [`recover`]: recovering an interrupted serial job from its journal;
//! - [`events`]: the events outbox (subscribe, replay, acknowledge, saved positions) and the
//!   cloud's stored command replies.

mod analyse;
mod events;
mod intake;
mod options;
mod placement;
mod reads;
mod recover;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;

use crate::config::BuildVolume;
use crate::domain::{JobId, JobStatus, PrinterId, QueuedStage};
use crate::files::FileKind;
use crate::jobs::{self, Job, JobStore, NewJob, StoreError, Writer};
use crate::printer::{Control, PrinterError, PrinterHandle, PrinterStatus, RecoverError};

pub use events::OutboxRange;
pub use intake::{IncomingFile, IntakeError, KeptFile, PlacedFile, QueueRequest};
pub use reads::{QueueSnapshot, StoreCounts};

/// Why an STL or 3MF job fails on a gateway without `[slicer] command`.
pub const SLICER_NEEDED: &str = "this gateway prints G-code; configure a slicer";
/// Why a binary G-code job fails.
pub const BGCODE_UNSUPPORTED: &str = "binary G-code is not supported by this gateway yet";

/// Why a command was refused. `code()` is the stable string both doors put on the wire.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("job {0} not found")]
    JobNotFound(JobId),
    #[error("printer {0:?} is not configured on this gateway")]
    UnknownPrinter(String),
    #[error("the model ({x:.0} × {y:.0} × {z:.0} mm) fits no printer on this gateway")]
    FitsNoPrinter { x: f64, y: f64, z: f64 },
    #[error("{0}")]
    Conflict(String),
    /// The job's print options do not fit its file or printer (`gateway::options`).
    #[error("{0}")]
    BadOptions(String),
    #[error(transparent)]
    Recover(RecoverError),
    #[error(transparent)]
    Printer(PrinterError),
    #[error(transparent)]
    Store(StoreError),
}

impl CommandError {
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::JobNotFound(_) => "job_not_found",
            CommandError::UnknownPrinter(_) => "unknown_printer",
            CommandError::FitsNoPrinter { .. } => "does_not_fit",
            CommandError::Conflict(_) => "conflict",
            CommandError::BadOptions(_) => "invalid_options",
            CommandError::Recover(e) => e.code(),
            CommandError::Printer(_) => "printer_unavailable",
            CommandError::Store(_) => "internal",
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> CommandError {
        match e {
            StoreError::JobNotFound(id) => CommandError::JobNotFound(id),
            e @ (StoreError::Illegal { .. }
            | StoreError::NotQueued { .. }
            | StoreError::DuplicateCloudJob(_)) => CommandError::Conflict(e.to_string()),
            e => CommandError::Store(e),
        }
    }
}

impl From<RecoverError> for CommandError {
    fn from(e: RecoverError) -> CommandError {
        match e {
            RecoverError::Store(e) => e.into(),
            e => CommandError::Recover(e),
        }
    }
}

impl From<PrinterError> for CommandError {
    fn from(e: PrinterError) -> CommandError {
        match e {
            PrinterError::Store(e) => e.into(),
            PrinterError::Recover(e) => e.into(),
            e @ (PrinterError::NotOnPrinter(_)
            | PrinterError::WrongState { .. }
            | PrinterError::Printing(_)) => CommandError::Conflict(e.to_string()),
            e => CommandError::Printer(e),
        }
    }
}

/// A cheap handle on the running gateway.
#[derive(Clone)]
pub struct Gateway {
    store: JobStore,
    printers: Arc<[PrinterHandle]>,
    /// Whether a slicer runs (`[slicer] command`): STL/3MF jobs wait in `slicing`.
    slices: bool,
}

impl Gateway {
    pub fn new(store: JobStore, printers: Vec<PrinterHandle>) -> Gateway {
        Gateway {
            store,
            printers: printers.into(),
            slices: false,
        }
    }

    /// This gateway slices models: its slicer worker takes jobs in stage `slicing`.
    pub fn with_slicer(mut self) -> Gateway {
        self.slices = true;
        self
    }

    /// The stage a new job whose file is of `kind` starts in once the file is stored, or
    /// why it cannot print here (the job then fails at once). Both doors ask this.
    pub fn first_stage(&self, kind: FileKind) -> Result<QueuedStage, &'static str> {
        match kind {
            FileKind::GcodeText | FileKind::SlicedProject => Ok(QueuedStage::Ready),
            FileKind::Stl | FileKind::ThreeMf if self.slices => Ok(QueuedStage::Slicing),
            FileKind::Stl | FileKind::ThreeMf => Err(SLICER_NEEDED),
            FileKind::BinaryGcode => Err(BGCODE_UNSUPPORTED),
        }
    }

    /// True while the store thread and every printer actor run (what the watchdog pings for).
    pub fn is_alive(&self) -> bool {
        self.store.is_alive() && self.printers.iter().all(PrinterHandle::is_alive)
    }

    pub fn printers(&self) -> &[PrinterHandle] {
        &self.printers
    }

    /// The build volume of `printer`, or of every printer when none is named (what an
    /// estimate's `fits` is checked against).
    pub fn build_volumes(&self, printer: Option<&str>) -> Result<Vec<BuildVolume>, CommandError> {
        let volumes: Vec<BuildVolume> = (self.printers.iter())
            .filter(|p| printer.is_none_or(|id| p.id().as_str() == id))
            .map(|p| *p.build_volume())
            .collect();
        match (volumes.is_empty(), printer) {
            (true, Some(id)) => Err(CommandError::UnknownPrinter(id.to_owned())),
            (true, None) => Err(CommandError::Conflict("no printer is configured".into())),
            (false, _) => Ok(volumes),
        }
    }

    pub fn printer_statuses(&self) -> Vec<PrinterStatus> {
        self.printers.iter().map(PrinterHandle::status).collect()
    }

    /// How well estimates matched `printer`'s completed jobs (`None` for an unknown printer).
    pub fn accuracy(&self, printer: &PrinterId) -> Option<crate::jobs::Accuracy> {
        self.printer(printer).ok().map(|p| p.status().accuracy)
    }

    fn printer(&self, id: &PrinterId) -> Result<&PrinterHandle, CommandError> {
        self.printers
            .iter()
            .find(|p| p.id() == id)
            .ok_or_else(|| CommandError::UnknownPrinter(id.to_string()))
    }

    /// Queues a job. Without a printer it goes to the first idle printer it fits, or stays
    /// unassigned for the first fitting printer that frees up. Returns once it is committed.
    pub async fn submit(&self, new: NewJob) -> Result<Job, CommandError> {
        self.submit_with(new, |_, _| Ok(())).await
    }

    /// `submit` for a cloud command: `reply(job)` is stored as the answer to `command_id` in
    /// the job's own transaction, so the job and the reply commit together or not at all (a
    /// command id already answered makes the whole submission fail, storing nothing).
    pub async fn submit_answering<F>(
        &self,
        new: NewJob,
        command_id: String,
        reply: F,
    ) -> Result<Job, CommandError>
    where
        F: FnOnce(&Job) -> String + Send + 'static,
    {
        self.submit_with(new, move |w, job| {
            w.remember_command(&command_id, &reply(job))
        })
        .await
    }

    /// `submit`, running `also(writer, job)` in the job's own transaction.
    async fn submit_with<F>(&self, mut new: NewJob, also: F) -> Result<Job, CommandError>
    where
        F: FnOnce(&mut Writer<'_>, &Job) -> Result<(), StoreError> + Send + 'static,
    {
        // A job whose file is not in yet names no printer of its own accord: what its file is
        // (a sliced Bambu project only prints on a Bambu printer) is not known until it
        // arrives, so an unnamed one stays unassigned for the first printer that may take it.
        if new.printer.is_some() || new.stage != Some(QueuedStage::Fetching) {
            self.choose_printer(&mut new, false)?;
        }
        self.options_fit_printer(new.options.as_ref(), new.printer.as_ref())?;
        let job = self
            .store
            .call(move |db| {
                db.write(|w| {
                    let job = w.insert_job(new)?;
                    also(w, &job)?;
                    Ok(job)
                })
            })
            .await?;
        self.wake(job.printer.as_ref());
        Ok(job)
    }

    /// Checks that the job fits its printer, or picks the first idle printer it fits for an
    /// unassigned one (leaving it unassigned when none is idle); refuses a job that fits no
    /// printer. Runs before anything is stored.
    /// `projects`: the job is a sliced Bambu project, which only a printer that prints
    /// projects may take (`placement` already refused one for another printer).
    fn choose_printer(&self, new: &mut NewJob, projects: bool) -> Result<(), CommandError> {
        match &new.printer {
            Some(id) => {
                let printer = self.printer(id)?;
                if !jobs::fits(new.model_size_mm, printer.build_volume()) {
                    return Err(self.too_big(new.model_size_mm));
                }
            }
            None => {
                let fitting: Vec<&PrinterHandle> = self
                    .printers
                    .iter()
                    .filter(|p| jobs::fits(new.model_size_mm, p.build_volume()))
                    .filter(|p| !projects || p.prints_projects())
                    .collect();
                if fitting.is_empty() {
                    return Err(self.too_big(new.model_size_mm));
                }
                new.printer = fitting
                    .iter()
                    .find(|p| p.status().state == crate::domain::PrinterState::Idle)
                    .map(|p| p.id().clone());
            }
        }
        Ok(())
    }

    fn too_big(&self, size: Option<[f64; 3]>) -> CommandError {
        let [x, y, z] = size.unwrap_or_default();
        CommandError::FitsNoPrinter { x, y, z }
    }

    /// Wakes the printer a job went to, or every printer for an unassigned one: the one
    /// place a door's change reaches the printer actors' queue checks.
    fn wake(&self, printer: Option<&PrinterId>) {
        for p in self.printers.iter() {
            if printer.is_none_or(|id| id == p.id()) {
                p.wake();
            }
        }
    }

    /// Cancels a queued job at once, or asks its printer to cancel a running one.
    pub async fn cancel(&self, id: JobId) -> Result<Job, CommandError> {
        let job = self.job(id).await?;
        match &job.status {
            JobStatus::Queued(_) => {
                // The store re-checks inside its transaction: if a printer claimed the job in
                // the meantime this fails with a conflict instead of cancelling a running print.
                let cancelled = self.store.call(move |db| db.cancel_queued(id)).await;
                match cancelled {
                    Err(StoreError::NotQueued { .. }) => Box::pin(self.cancel(id)).await,
                    other => Ok(other?),
                }
            }
            status if status.is_on_printer() => self.control(&job, Control::Cancel).await,
            status => Err(CommandError::Conflict(format!(
                "job {id} is {}; it cannot be cancelled",
                status.as_str()
            ))),
        }
    }

    pub async fn pause(&self, id: JobId) -> Result<Job, CommandError> {
        let job = self.job(id).await?;
        self.control(&job, Control::Pause).await
    }

    pub async fn resume(&self, id: JobId) -> Result<Job, CommandError> {
        let job = self.job(id).await?;
        self.control(&job, Control::Resume).await
    }

    async fn control(&self, job: &Job, action: Control) -> Result<Job, CommandError> {
        let printer = match (&job.printer, job.status.is_on_printer()) {
            (Some(p), true) => self.printer(p)?,
            _ => {
                return Err(CommandError::Conflict(format!(
                    "job {} is {}; it is not on a printer",
                    job.id,
                    job.status.as_str()
                )));
            }
        };
        printer.control(job.id, action).await?;
        self.job(job.id).await
    }

    /// Moves a queued job to `index` in its queue (0 = next); returns the new order.
    pub async fn move_job(&self, id: JobId, index: usize) -> Result<Vec<JobId>, CommandError> {
        Ok(self.store.call(move |db| db.move_job(id, index)).await?)
    }

    /// Someone confirmed the printer's bed is clear: the next job may start.
    pub async fn bed_cleared(&self, printer: &PrinterId) -> Result<PrinterStatus, CommandError> {
        let handle = self.printer(printer)?;
        handle.bed_cleared().await?;
        Ok(handle.status())
    }

    pub async fn emergency_stop(&self, printer: &PrinterId) -> Result<(), CommandError> {
        Ok(self.printer(printer)?.emergency_stop().await?)
    }
}
