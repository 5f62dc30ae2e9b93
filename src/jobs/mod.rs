//! The job store: the SQLite database that holds the queue, stored files, the events
//! outbox and the processed command ids, owned by one thread (`store`), reached through a
//! cheap `JobStore` handle. Everything the gateway acknowledges is committed here first.

pub mod accuracy;
mod cloud;
mod db;
mod intel;
mod journal;
pub mod lifecycle;
mod outbox;
mod queue;
mod rows;
mod schema;
mod sliced;
mod sql;
mod store;
#[cfg(test)]
mod test_support;

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::config::BuildVolume;
use crate::domain::{JobId, JobStatus, PrintOptions, PrinterId};
use crate::events::JobRef;

pub use accuracy::Accuracy;
pub use db::{Db, Writer};
pub use intel::{ActualTime, Thumbnail};
pub use lifecycle::{IllegalTransition, Transition};
pub use queue::BedState;
pub use schema::LATEST_VERSION;
pub use sliced::SlicedFile;
pub use store::{JobStore, StoreThread};

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSource {
    Lan,
    Cloud,
    Slicer,
}

impl JobSource {
    pub fn as_str(self) -> &'static str {
        match self {
            JobSource::Lan => "lan",
            JobSource::Cloud => "cloud",
            JobSource::Slicer => "slicer",
        }
    }

    fn parse(s: &str) -> JobSource {
        match s {
            "cloud" => JobSource::Cloud,
            "slicer" => JobSource::Slicer,
            _ => JobSource::Lan,
        }
    }
}

/// A stored file's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(pub i64);

/// A file kept in the state directory.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub id: FileId,
    /// The name a person gave it (kept for display; never used as a path).
    pub display_name: String,
    /// Where it lies on disk.
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub cloud_job_id: Option<String>,
    pub project_id: Option<String>,
    pub file_name: String,
    pub file: Option<FileId>,
    pub status: JobStatus,
    pub printer: Option<PrinterId>,
    pub material: Option<String>,
    pub quality: Option<String>,
    /// Free-form settings JSON from the submitter (`print_settings` in the seed schema).
    pub print_settings: Option<String>,
    /// How a Bambu printer prints the job's project, when the submitter said.
    pub options: Option<PrintOptions>,
    pub source: JobSource,
    /// Order in the queue; smaller prints first.
    pub position: i64,
    /// The model's extent in mm, when known; used to pick a printer it fits.
    pub model_size_mm: Option<[f64; 3]>,
    pub estimated_time_s: Option<u64>,
    pub estimated_cost: Option<f64>,
    /// What the slicer wrote into the file (from the file's analysis).
    pub slicer_estimate_s: Option<u64>,
    /// Whether the file's analysis kept a thumbnail.
    pub has_thumbnail: bool,
    /// Seconds left as of the last progress, already corrected for the printer.
    pub remaining_s: Option<u64>,
    /// Printing seconds a completed job took.
    pub actual_print_s: Option<f64>,
    pub queued_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl Job {
    pub fn to_ref(&self) -> JobRef {
        JobRef {
            id: self.id,
            cloud_job_id: self.cloud_job_id.clone(),
            project_id: self.project_id.clone(),
            printer: self.printer.clone(),
            file_name: self.file_name.clone(),
            status: self.status.clone(),
            remaining_s: self.remaining_s,
        }
    }

    /// Whether the model fits a printer of this build volume (unknown size fits anywhere).
    pub fn fits(&self, volume: &BuildVolume) -> bool {
        fits(self.model_size_mm, volume)
    }
}

pub(crate) fn fits(size: Option<[f64; 3]>, volume: &BuildVolume) -> bool {
    size.is_none_or(|[x, y, z]| x <= volume.x_mm && y <= volume.y_mm && z <= volume.z_mm)
}

/// What a submitter gives for a new job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewJob {
    pub cloud_job_id: Option<String>,
    pub project_id: Option<String>,
    pub file_name: String,
    pub file: Option<FileId>,
    /// `Ready` when the file is on disk; `Fetching`/`Slicing` while it is being prepared.
    pub stage: Option<crate::domain::QueuedStage>,
    pub printer: Option<PrinterId>,
    pub material: Option<String>,
    pub quality: Option<String>,
    pub print_settings: Option<String>,
    pub options: Option<PrintOptions>,
    pub source: Option<JobSource>,
    pub model_size_mm: Option<[f64; 3]>,
    pub estimated_time_s: Option<u64>,
    pub estimated_cost: Option<f64>,
}

/// Which jobs a listing returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<String>,
    pub printer: Option<PrinterId>,
    /// Cursor: only jobs with a smaller id than this.
    pub before: Option<JobId>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database {path} was written by a newer gateway (schema version {found}, this build knows up to {known}); refusing to touch it"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "database {path} is damaged ({detail}); it was left as it is — restore a backup or move it away"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("state directory {path} is not usable: {source}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("job {0} not found")]
    JobNotFound(JobId),
    #[error("job {job}: {source}")]
    Illegal {
        job: JobId,
        #[source]
        source: IllegalTransition,
    },
    #[error("job {job} is not in a queue (it is {status})")]
    NotQueued { job: JobId, status: &'static str },
    #[error("a job with cloud id {0:?} already exists")]
    DuplicateCloudJob(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is unreadable: {0}")]
    Decode(String),
    #[error("the job store has stopped")]
    Stopped,
    /// The batch this request's writes were grouped into did not commit (every request of
    /// the batch gets this same error).
    #[error("the write was not committed: {0}")]
    Batch(#[source] Arc<BatchError>),
}

/// Why a batch of grouped writes did not commit.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("committing the batch failed: {0}")]
    Commit(#[source] rusqlite::Error),
    #[error("the database rolled the batch's transaction back after an error")]
    RolledBack,
}

impl From<BatchError> for StoreError {
    fn from(e: BatchError) -> StoreError {
        StoreError::Batch(Arc::new(e))
    }
}
