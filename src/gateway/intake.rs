//! Intake: the one way a file becomes a job's file, whichever way it came — a LAN upload
//! (`POST /api/jobs`, OctoPrint's `POST /api/files/local`), a cloud download, or the slicer's
//! output. The doors keep their transport (multipart streaming, the HTTP download, running the
//! slicer) and hand the complete, hashed file here; then, in this order:
//!
//! 1. **store under its hash**: `<sha256 prefix>-<safe name>` beside where it arrived (the
//!    files directory), a durable rename; a download arrives already stored so by the fetch,
//!    whose partial file is only ever renamed into place whole;
//! 2. **analyse** G-code once (`gcode::intel`: estimates, progress table, thumbnail) on a
//!    blocking thread — a file it cannot analyse goes on without; a model for a new job gets
//!    the STL's quick estimate, which also decides which printers it fits;
//! 3. **choose the first stage** (`Gateway::placement`, from `first_stage`): `ready`,
//!    `slicing`, or the reason the file cannot print here — a 3MF with a sliced plate is a
//!    ready Bambu project (`files::refine`), analysed on its plate's G-code (the plate its
//!    print options choose, which `gateway::options` checks first), for Bambu printers only;
//! 4. **queue or fail the job** in one transaction with the file and its analysis: a new job
//!    is queued, or queued and failed with the reason (never claimable in between); a job
//!    waiting for its file (`fetching`, `slicing`) takes it and moves on, which is refused if
//!    it left that stage meanwhile;
//! 5. **wake** the printer the job went to (every printer for an unassigned job).
//!
//! A file the intake does not keep is removed again (`FileGuard`), and nothing of it is
//! recorded: a refused upload or a slice whose job was cancelled leaves nothing behind.

use std::path::PathBuf;

use super::analyse::{analyse_gcode, model_estimate};
use super::{CommandError, Gateway};
use crate::domain::{JobId, PrintOptions, PrinterId, QueuedStage};
use crate::files::{self, FileGuard, FileKind};
use crate::gcode::LinesRead;
use crate::jobs::{Job, JobSource, NewJob, SlicedFile, StoreError, StoredFile, Transition};

/// Why a file did not become (or join) a job. Nothing of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Renaming or syncing the file failed.
    #[error("storing the file: {0}")]
    File(#[source] std::io::Error),
    /// The job was refused (an unknown printer, a model that fits no printer).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The store refused or failed (a waiting job that left its stage: `NotQueued`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A complete, checked file under a temporary name in the files directory (an upload, the
/// slicer's output), to be stored beside it under its hash.
#[derive(Debug)]
pub struct IncomingFile {
    /// Removes the file unless the intake keeps it.
    pub guard: FileGuard,
    /// The name a person gave it (for display; never used as a path).
    pub display_name: String,
    pub kind: FileKind,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
    /// The G-code pass that read it as it arrived (`gcode::along`), if one did: step 2 then
    /// only finishes it instead of reading the file again.
    pub analysed: Option<LinesRead>,
}

/// A job file already at its final place under its hash (a download, the fetch's result).
#[derive(Debug, Clone)]
pub struct PlacedFile {
    pub path: PathBuf,
    pub display_name: String,
    pub kind: FileKind,
    pub sha256: String,
    pub size: u64,
}

/// What the submitter of a new job asked for besides storing the file.
#[derive(Debug, Clone)]
pub struct QueueRequest {
    pub printer: Option<PrinterId>,
    pub material: Option<String>,
    pub quality: Option<String>,
    /// How a Bambu printer prints the project (`gateway::options` checks them).
    pub options: Option<PrintOptions>,
    pub source: JobSource,
}

/// A file the intake kept.
#[derive(Debug)]
pub struct KeptFile {
    pub file: StoredFile,
    /// Its name in the files directory.
    pub stored_name: String,
}

impl IncomingFile {
    /// Step 1: renames the file under its hash in its own directory (atomic) and makes the
    /// rename durable. The guard follows the file.
    async fn store_under_hash(self) -> Result<(FileGuard, PlacedFile), IntakeError> {
        let IncomingFile {
            mut guard,
            display_name,
            kind,
            sha256,
            size,
            analysed: _,
        } = self;
        let dir = (guard.path().parent())
            .map(PathBuf::from)
            .unwrap_or_default();
        let path = files::free_name(&dir, &sha256, &files::sanitise(&display_name))
            .await
            .map_err(IntakeError::File)?;
        guard
            .rename(path.clone())
            .await
            .map_err(IntakeError::File)?;
        files::sync_dir(&dir).await.map_err(IntakeError::File)?;
        let placed = PlacedFile {
            path,
            display_name,
            kind,
            sha256,
            size,
        };
        Ok((guard, placed))
    }
}

impl Gateway {
    /// Stores a file without queueing anything (OctoPrint's upload without `print`): stored
    /// under its hash and recorded, not analysed.
    pub async fn keep_file(&self, file: IncomingFile) -> Result<KeptFile, IntakeError> {
        let (guard, placed) = file.store_under_hash().await?;
        let file = self.record_file(placed).await?;
        Ok(kept(guard, file))
    }

    /// Records a file already at its final place as it is, without analysis (the last step
    /// of `keep_file`; on its own for a file the caller placed, such as a test's fixture).
    pub async fn record_file(&self, file: PlacedFile) -> Result<StoredFile, IntakeError> {
        Ok(self
            .store
            .call(move |db| {
                db.write(|w| w.add_file(&file.display_name, &file.path, &file.sha256, file.size))
            })
            .await?)
    }

    /// A file that becomes a new job: stored under its hash, analysed, and queued in the
    /// stage `first_stage` gives — or queued and failed with the reason, in one transaction,
    /// when it cannot print here. An unknown printer, or print options that do not fit the
    /// file or printer (`gateway::options`), are refused and nothing is kept.
    pub async fn queue_file(
        &self,
        mut file: IncomingFile,
        request: QueueRequest,
    ) -> Result<(KeptFile, Job), IntakeError> {
        if let Some(id) = &request.printer {
            self.printer(id)?;
        }
        let analysed = file.analysed.take();
        let (guard, mut placed) = file.store_under_hash().await?;
        placed.kind = files::refine(&placed.path, placed.kind).await;
        let (options, printer) = (request.options.as_ref(), request.printer.as_ref());
        (self.check_options(options, placed.kind, &placed.path, printer)).await?;
        let (file, job) = match self.placement(placed.kind, request.printer.as_ref()) {
            Err(reason) => self.queue_failed(placed, request, reason).await?,
            Ok(stage) => {
                self.queue_analysed(placed, request, stage, analysed)
                    .await?
            }
        };
        Ok((kept(guard, file), job))
    }

    /// The download of a job waiting in `fetching` arrived: analysed (G-code), attached with
    /// its analysis, and the job moved to its first stage — or failed with the reason when the
    /// file cannot print here or its print options do not fit it — in one transaction;
    /// refused if the job left the queue.
    pub async fn attach_download(
        &self,
        job: JobId,
        material: Option<String>,
        mut file: PlacedFile,
    ) -> Result<Job, IntakeError> {
        file.kind = files::refine(&file.path, file.kind).await;
        let waiting = self.job(job).await?;
        let (options, printer) = (waiting.options.as_ref(), waiting.printer.as_ref());
        let checked = self.check_options(options, file.kind, &file.path, printer);
        let checked = checked.await.map_err(|e| e.to_string());
        // A file its options do not fit fails the job: not worth analysing.
        let plate = options.and_then(|o| o.plate);
        let intel = match checked {
            Ok(()) => analyse_gcode(&file, plate, material, None).await,
            Err(_) => None,
        };
        let next = match checked.and_then(|()| self.placement(file.kind, printer)) {
            Ok(stage) => Transition::Stage(stage),
            Err(reason) => Transition::Fail(reason),
        };
        let attached = self
            .store
            .call(move |db| {
                let hash = (file.sha256.as_str(), file.size);
                let intel = intel.as_ref();
                db.attach_fetched_file(job, &file.display_name, &file.path, hash, intel, next)
            })
            .await?;
        self.wake(attached.printer.as_ref());
        Ok(attached)
    }

    /// The G-code a slice wrote becomes the job's file: stored under its hash, analysed, and
    /// attached with the job moving to `ready`, in one transaction; refused (and the file
    /// removed) if the job left `slicing` meanwhile.
    pub async fn attach_sliced(&self, job: &Job, file: IncomingFile) -> Result<Job, IntakeError> {
        let (guard, placed) = file.store_under_hash().await?;
        let sliced = SlicedFile {
            intel: analyse_gcode(&placed, None, job.material.clone(), None).await,
            display_name: placed.display_name,
            path: placed.path,
            sha256: placed.sha256,
            size: placed.size,
        };
        let id = job.id;
        let ready = self
            .store
            .call(move |db| db.attach_sliced_file(id, &sliced))
            .await?;
        guard.keep();
        self.wake(ready.printer.as_ref());
        Ok(ready)
    }

    /// A job waiting for its file (a failed download or slice) fails with `reason`; a job
    /// that left the queue meanwhile keeps its state (`NotQueued`).
    pub async fn fail_waiting_job(&self, job: JobId, reason: String) -> Result<Job, CommandError> {
        Ok(self
            .store
            .call(move |db| {
                db.write(|w| {
                    w.queued_job(job)?;
                    w.transition(job, Transition::Fail(reason))
                })
            })
            .await?)
    }

    /// Fails every job waiting in `stage` with `reason` (at start-up: a download the last run
    /// left unfinished, a model no slicer will take any more); returns them.
    pub async fn fail_all_waiting(
        &self,
        stage: QueuedStage,
        reason: &'static str,
    ) -> Result<Vec<Job>, CommandError> {
        Ok(self
            .store
            .call(move |db| db.fail_waiting_jobs(stage, reason))
            .await?)
    }

    /// File, job and its failure in one transaction: no printer can claim the job meanwhile.
    async fn queue_failed(
        &self,
        file: PlacedFile,
        request: QueueRequest,
        reason: String,
    ) -> Result<(StoredFile, Job), IntakeError> {
        Ok(self
            .store
            .call(move |db| {
                db.write(|w| {
                    let stored =
                        w.add_file(&file.display_name, &file.path, &file.sha256, file.size)?;
                    let mut new = new_job(&file, request);
                    new.file = Some(stored.id);
                    let job = w.insert_job(new)?;
                    let job = w.transition(job.id, Transition::Fail(reason))?;
                    Ok((stored, job))
                })
            })
            .await?)
    }

    /// Analyses the file, picks the printer (a model that fits none is refused), then records
    /// file, analysis and job in one transaction and wakes the printer.
    async fn queue_analysed(
        &self,
        file: PlacedFile,
        request: QueueRequest,
        stage: QueuedStage,
        analysed: Option<LinesRead>,
    ) -> Result<(StoredFile, Job), IntakeError> {
        let (intel, estimates) = match file.kind {
            FileKind::GcodeText | FileKind::SlicedProject => {
                let plate = request.options.as_ref().and_then(|o| o.plate);
                let intel = analyse_gcode(&file, plate, request.material.clone(), analysed).await;
                let estimates = (intel.as_ref())
                    .map(|i| (i.estimated_time_s, i.estimated_cost, i.model_size_mm));
                (intel, estimates)
            }
            FileKind::Stl => {
                let estimate = model_estimate(file.path.clone(), &request).await;
                let estimates =
                    estimate.map(|e| (e.estimated_time_s, e.estimated_cost, e.model_size_mm));
                (None, estimates)
            }
            FileKind::ThreeMf | FileKind::BinaryGcode => (None, None),
        };
        let mut new = NewJob {
            stage: Some(stage),
            ..new_job(&file, request)
        };
        if let Some((time_s, cost, size)) = estimates {
            new.estimated_time_s = Some(time_s);
            new.estimated_cost = Some(cost);
            new.model_size_mm = size;
        }
        self.choose_printer(&mut new, file.kind == FileKind::SlicedProject)?;
        let (stored, job) = self
            .store
            .call(move |db| {
                db.write(|w| {
                    let stored =
                        w.add_file(&file.display_name, &file.path, &file.sha256, file.size)?;
                    if let Some(intel) = &intel {
                        w.save_file_intel(stored.id, intel)?;
                    }
                    let job = w.insert_job(NewJob {
                        file: Some(stored.id),
                        ..new
                    })?;
                    Ok((stored, job))
                })
            })
            .await?;
        self.wake(job.printer.as_ref());
        Ok((stored, job))
    }
}

/// The job a file becomes; the file's id is set once the file is recorded.
fn new_job(file: &PlacedFile, request: QueueRequest) -> NewJob {
    NewJob {
        file_name: file.display_name.clone(),
        printer: request.printer,
        material: request.material,
        quality: request.quality,
        options: request.options,
        source: Some(request.source),
        ..NewJob::default()
    }
}

fn kept(guard: FileGuard, file: StoredFile) -> KeptFile {
    let path = guard.keep();
    let stored_name = (path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    KeptFile { file, stored_name }
}
