//! Typed reads for the doors and the slicer: jobs, the queue, stored files and their
//! thumbnails, the store's counts. Each is one store call, so what it returns is one
//! consistent view.

use super::{CommandError, Gateway};
use crate::domain::{JobId, QueuedStage};
use crate::jobs::{FileId, Job, JobFilter, StoredFile, Thumbnail};

/// The queue, the recent jobs and the newest event `seq`, read together (a snapshot a
/// live client continues from with the events after `last_seq`).
#[derive(Debug, Clone)]
pub struct QueueSnapshot {
    /// Queued jobs in the order they will print.
    pub queue: Vec<Job>,
    /// The newest jobs, as the filter asked.
    pub recent: Vec<Job>,
    pub last_seq: u64,
}

/// What the metrics show of the store.
#[derive(Debug, Clone, Default)]
pub struct StoreCounts {
    /// Jobs per status name (`queued`, `printing`, …); absent statuses have none.
    pub jobs_by_status: Vec<(String, u64)>,
    /// Events in the outbox (not yet acknowledged by the cloud).
    pub outbox_events: u64,
}

impl Gateway {
    pub async fn job(&self, id: JobId) -> Result<Job, CommandError> {
        Ok(self.store.call(move |db| db.job(id)).await?)
    }

    pub async fn jobs(&self, filter: JobFilter) -> Result<Vec<Job>, CommandError> {
        Ok(self.store.call(move |db| db.list(&filter)).await?)
    }

    /// Queued jobs in the order they will print (assigned or not).
    pub async fn queue(&self) -> Result<Vec<Job>, CommandError> {
        Ok(self.store.call(|db| db.queued()).await?)
    }

    /// Queued jobs waiting in `stage` (for their download, for the slicer), in queue order.
    pub async fn waiting_jobs(&self, stage: QueuedStage) -> Result<Vec<Job>, CommandError> {
        Ok(self.store.call(move |db| db.waiting_jobs(stage)).await?)
    }

    /// The queue, the jobs `recent` selects and the newest `seq`, in one read.
    pub async fn queue_snapshot(&self, recent: JobFilter) -> Result<QueueSnapshot, CommandError> {
        let read = self.store.call(move |db| {
            Ok(QueueSnapshot {
                queue: db.queued()?,
                recent: db.list(&recent)?,
                last_seq: db.last_seq()?,
            })
        });
        Ok(read.await?)
    }

    /// A stored file's record (`None` when there is no such file).
    pub async fn file(&self, id: FileId) -> Result<Option<StoredFile>, CommandError> {
        Ok(self.store.call(move |db| db.file(id)).await?)
    }

    /// The thumbnail the analysis kept for a stored file, if any.
    pub async fn thumbnail(&self, id: FileId) -> Result<Option<Thumbnail>, CommandError> {
        Ok(self.store.call(move |db| db.thumbnail(id)).await?)
    }

    /// The job the cloud submitted under `cloud_id`, if there is one.
    pub async fn job_by_cloud_id(&self, cloud_id: &str) -> Result<Option<JobId>, CommandError> {
        let cloud_id = cloud_id.to_owned();
        Ok(self
            .store
            .call(move |db| db.job_by_cloud_id(&cloud_id))
            .await?)
    }

    /// Jobs by status and the outbox's depth, in one read.
    pub async fn store_counts(&self) -> Result<StoreCounts, CommandError> {
        let read = self.store.call(|db| {
            Ok(StoreCounts {
                jobs_by_status: db.count_by_status()?,
                outbox_events: db.outbox_depth()?,
            })
        });
        Ok(read.await?)
    }
}
