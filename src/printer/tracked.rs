//! The job on a printer as the actor picks it up: the one the store still has on the printer
//! after a restart, the file's progress table, and the `Current` snapshot with its time left.

use std::time::Instant;

use super::status::Current;
use super::timing::Tracking;
use crate::domain::PrinterId;
use crate::gcode::ProgressTable;
use crate::jobs::{Accuracy, Job, JobFilter, JobStore, StoreError};

/// The job left printing or paused on `printer` by the last run, picked up: its `Current`
/// snapshot and its timing (both `None` when there is none).
pub async fn left_on_printer(
    store: &JobStore,
    printer: &PrinterId,
    accuracy: &Accuracy,
) -> Result<(Option<Current>, Option<Tracking>), StoreError> {
    let Some(job) = still_on_printer(store, printer).await? else {
        return Ok((None, None));
    };
    let tracking = pick_up(store, &job, accuracy).await?;
    Ok((Some(current_of(&job, &tracking)), Some(tracking)))
}

/// The job the store still has printing or paused on `printer` after a restart.
async fn still_on_printer(
    store: &JobStore,
    printer: &PrinterId,
) -> Result<Option<Job>, StoreError> {
    let printer = printer.clone();
    let jobs = store
        .call(move |db| {
            let mut found = Vec::new();
            for status in ["printing", "paused"] {
                let filter = JobFilter {
                    status: Some(status.to_owned()),
                    printer: Some(printer.clone()),
                    before: None,
                    limit: 1,
                };
                found.extend(db.list(&filter)?);
            }
            Ok(found)
        })
        .await?;
    Ok(jobs.into_iter().next())
}

/// Times a job found on the printer after a restart from its stored start.
async fn pick_up(store: &JobStore, job: &Job, accuracy: &Accuracy) -> Result<Tracking, StoreError> {
    let table = progress_table(store, job).await?;
    let printed = job
        .started_at
        .map(|start| time::OffsetDateTime::now_utc() - start)
        .and_then(|d| d.try_into().ok())
        .unwrap_or_default();
    let paused = job.status.as_str() == "paused";
    Ok(Tracking::picked_up(
        table,
        accuracy,
        printed,
        paused,
        Instant::now(),
    ))
}

pub async fn progress_table(
    store: &JobStore,
    job: &Job,
) -> Result<Option<ProgressTable>, StoreError> {
    let Some(file) = job.file else {
        return Ok(None);
    };
    store.call(move |db| db.progress_table(file)).await
}

pub fn current_of(job: &Job, tracking: &Tracking) -> Current {
    let progress = job.status.progress();
    Current {
        job: job.id,
        progress,
        paused: job.status.as_str() == "paused",
        remaining: tracking.remaining(progress, Instant::now()),
    }
}
