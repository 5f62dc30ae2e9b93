//! From a received upload to a stored file and, when asked, a queued job.
//!
//! The file is renamed from its temporary name to `<sha256 prefix>-<safe name>` in the files
//! directory, recorded in the job store, and queued through `Gateway::submit` like any other
//! job, in the stage `Gateway::first_stage` gives (`slicing` for a model when the gateway
//! slices, `ready` for G-code). Files this gateway cannot print (a model without a slicer,
//! binary G-code) still become jobs, but fail at once with the reason, in the same
//! transaction that queues them — never silently, and never claimable by a printer in
//! between. If anything fails, the file and its record are removed again: a failed upload
//! leaves nothing behind.

use std::path::PathBuf;

use super::error::ApiError;
use super::upload::{FileGuard, ReceivedFile};
use crate::config::BuildVolume;
use crate::domain::{PrinterId, QueuedStage};
use crate::files::{self, FileKind};
use crate::gateway::{CommandError, Gateway};
use crate::gcode::estimate::{self, Estimate, Quality};
use crate::gcode::materials::Materials;
use crate::gcode::{FileIntel, analyse_in_background};
use crate::jobs::{FileId, Job, JobSource, JobStore, NewJob, StoreError, StoredFile, Transition};
use crate::web::WebState;

pub use crate::gateway::{BGCODE_UNSUPPORTED, SLICER_NEEDED};

/// What the uploader asked for besides storing the file.
#[derive(Debug, Clone)]
pub struct QueueRequest {
    pub printer: Option<PrinterId>,
    pub material: Option<String>,
    pub quality: Option<String>,
    pub source: JobSource,
}

/// A stored upload.
#[derive(Debug)]
pub struct Stored {
    pub file: StoredFile,
    /// The file's name in the files directory.
    pub stored_name: String,
}

/// Stores the file without queueing anything.
pub async fn store_only(state: &WebState, received: ReceivedFile) -> Result<Stored, ApiError> {
    let (guard, record, _) = persist(state, received).await?;
    let file = record.add(state.gateway.store()).await?;
    Ok(finish(guard, file))
}

/// Stores the file and queues a job for it (failed at once when it cannot print here).
pub async fn store_and_queue(
    state: &WebState,
    received: ReceivedFile,
    queue: QueueRequest,
) -> Result<(Stored, Job), ApiError> {
    let wanted = queue.printer.as_ref();
    let unknown = wanted.filter(|id| !state.gateway.printers().iter().any(|p| p.id() == *id));
    if let Some(PrinterId(id)) = unknown {
        return Err(CommandError::UnknownPrinter(id.clone()).into());
    }
    let (guard, record, kind) = persist(state, received).await?;
    let (file, job) = match state.gateway.first_stage(kind) {
        Err(reason) => {
            record
                .add_failed_job(state.gateway.store(), queue, reason)
                .await?
        }
        Ok(stage) => {
            record
                .add_and_submit(&state.gateway, queue, kind, stage)
                .await?
        }
    };
    Ok((finish(guard, file), job))
}

/// Moves the temporary file to its stored name, durably.
async fn persist(
    state: &WebState,
    received: ReceivedFile,
) -> Result<(FileGuard, FileRecord, FileKind), ApiError> {
    let ReceivedFile {
        mut guard,
        display_name,
        safe_name,
        kind,
        sha256,
        size,
    } = received;
    let path = files::free_name(&state.files_dir, &sha256, &safe_name).await?;
    guard.rename(path.clone()).await?;
    files::sync_dir(&state.files_dir).await?;
    let record = FileRecord {
        display_name,
        path,
        sha256,
        size,
    };
    Ok((guard, record, kind))
}

fn finish(guard: FileGuard, file: StoredFile) -> Stored {
    let kept = guard.keep();
    let stored_name = kept
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Stored { file, stored_name }
}

#[derive(Clone)]
struct FileRecord {
    display_name: String,
    path: PathBuf,
    sha256: String,
    size: u64,
}

impl FileRecord {
    fn new_job(&self, file: FileId, queue: QueueRequest) -> NewJob {
        NewJob {
            file_name: self.display_name.clone(),
            file: Some(file),
            printer: queue.printer,
            material: queue.material,
            quality: queue.quality,
            source: Some(queue.source),
            ..NewJob::default()
        }
    }

    async fn add(self, store: &JobStore) -> Result<StoredFile, StoreError> {
        store
            .call(move |db| {
                db.write(|w| w.add_file(&self.display_name, &self.path, &self.sha256, self.size))
            })
            .await
    }

    /// File, job and its failure in one transaction: no printer can claim the job meanwhile.
    async fn add_failed_job(
        self,
        store: &JobStore,
        queue: QueueRequest,
        reason: &'static str,
    ) -> Result<(StoredFile, Job), StoreError> {
        store
            .call(move |db| {
                db.write(|w| {
                    let file =
                        w.add_file(&self.display_name, &self.path, &self.sha256, self.size)?;
                    let job = w.insert_job(self.new_job(file.id, queue))?;
                    let job = w.transition(job.id, Transition::Fail(reason.to_owned()))?;
                    Ok((file, job))
                })
            })
            .await
    }

    /// The file with its analysis, in one transaction.
    async fn add_analysed(
        self,
        store: &JobStore,
        intel: Option<FileIntel>,
    ) -> Result<StoredFile, StoreError> {
        store
            .call(move |db| {
                db.write(|w| {
                    let file =
                        w.add_file(&self.display_name, &self.path, &self.sha256, self.size)?;
                    if let Some(intel) = &intel {
                        w.save_file_intel(file.id, intel)?;
                    }
                    Ok(file)
                })
            })
            .await
    }

    /// Analyses G-code once (on a blocking thread; a file it cannot analyse is queued
    /// without estimates) and keeps the analysis with the file. A model (`stage` slicing)
    /// gets the STL's quick estimate now, which also checks that it fits a printer; the
    /// slicer replaces it with the G-code's.
    async fn add_and_submit(
        self,
        gateway: &Gateway,
        queue: QueueRequest,
        kind: FileKind,
        stage: QueuedStage,
    ) -> Result<(StoredFile, Job), ApiError> {
        let store = gateway.store();
        let (intel, estimates) = match kind {
            FileKind::GcodeText => {
                let intel = analyse_in_background(self.path.clone(), queue.material.clone()).await;
                let estimates = intel
                    .as_ref()
                    .map(|i| (i.estimated_time_s, i.estimated_cost, i.model_size_mm));
                (intel, estimates)
            }
            FileKind::Stl => {
                let estimate = model_estimate(self.path.clone(), &queue).await;
                let estimates =
                    estimate.map(|e| (e.estimated_time_s, e.estimated_cost, e.model_size_mm));
                (None, estimates)
            }
            FileKind::ThreeMf | FileKind::BinaryGcode => (None, None),
        };
        let file = self.clone().add_analysed(store, intel).await?;
        let mut new = self.new_job(file.id, queue);
        new.stage = Some(stage);
        if let Some((time_s, cost, size)) = estimates {
            new.estimated_time_s = Some(time_s);
            new.estimated_cost = Some(cost);
            new.model_size_mm = size;
        }
        match gateway.submit(new).await {
            Ok(job) => Ok((file, job)),
            Err(e) => {
                forget_file(store, file.id).await;
                Err(e.into())
            }
        }
    }
}

/// The quick estimate of an STL model (time, cost, model size), on a blocking thread so
/// the analysis never holds up the server; a file it cannot analyse is queued without one.
async fn model_estimate(path: PathBuf, queue: &QueueRequest) -> Option<Estimate> {
    let material = queue.material.clone().unwrap_or_else(|| "PLA".to_owned());
    let quality = queue
        .quality
        .as_deref()
        .and_then(|q| Quality::parse(q).ok());
    let analysed = tokio::task::spawn_blocking(move || {
        // The build volume only decides `fits`; the gateway checks fits per printer itself.
        let any = BuildVolume {
            x_mm: f64::MAX,
            y_mm: f64::MAX,
            z_mm: f64::MAX,
        };
        let materials = Materials::default();
        estimate::for_file(
            &path,
            FileKind::Stl,
            &material,
            quality.unwrap_or(Quality::Standard),
            &materials,
            &any,
        )
    })
    .await;
    match analysed {
        Ok(Ok(estimate)) => Some(estimate),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no estimate for an uploaded file");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "the estimate task failed");
            None
        }
    }
}

/// Takes back the record of a file whose job was refused (the guard removes the file).
async fn forget_file(store: &JobStore, id: FileId) {
    let removed = store
        .call(move |db| {
            db.conn()
                .execute("DELETE FROM files WHERE id = ?1", [id.0])
                .map_err(StoreError::from)
        })
        .await;
    if let Err(e) = removed {
        tracing::error!(file = id.0, error = %e, "removing the record of a refused upload");
    }
}
