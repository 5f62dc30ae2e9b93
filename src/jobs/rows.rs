//! How jobs and events look in the database: column lists, row decoding, the outbox payload
//! format. The payload format is persisted, so it only ever gains optional fields.

use rusqlite::Row;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{FileId, Job, JobSource, StoreError};
use crate::domain::{JobId, JobStatus, Percent, PrinterId, PrinterState, QueuedStage};
use crate::events::{EventKind, JobRef};

pub const JOB_COLUMNS: &str = "id, cloud_job_id, project_id, file_name, file_id, status, stage, \
     progress, error, printer_id, material_type, quality, print_settings, source, queue_position, \
     model_size, estimated_time, estimated_cost, queued_at, started_at, completed_at, updated_at";

pub fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("every UTC time formats as RFC 3339")
}

pub fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| StoreError::Decode(format!("time {text:?}: {e}")))
}

fn parse_opt_time(text: Option<String>) -> Result<Option<OffsetDateTime>, StoreError> {
    text.as_deref().map(parse_time).transpose()
}

/// The columns a status is stored in: `status`, `stage`, `progress`, `error`.
pub fn status_columns(
    status: &JobStatus,
) -> (&'static str, Option<&'static str>, u8, Option<&str>) {
    let stage = match status {
        JobStatus::Queued(stage) => Some(stage.as_str()),
        _ => None,
    };
    (
        status.as_str(),
        stage,
        status.progress().get(),
        status.error(),
    )
}

pub fn status_from_columns(
    status: &str,
    stage: Option<&str>,
    progress: u8,
    error: Option<String>,
) -> Result<JobStatus, StoreError> {
    let progress = Percent::new(progress);
    let error_text = || error.clone().unwrap_or_default();
    Ok(match status {
        "queued" => JobStatus::Queued(
            stage
                .and_then(QueuedStage::parse)
                .unwrap_or(QueuedStage::Ready),
        ),
        "printing" => JobStatus::Printing { progress },
        "paused" => JobStatus::Paused { progress },
        "completed" => JobStatus::Completed,
        "failed" => JobStatus::Failed {
            error: error_text(),
        },
        "cancelled" => JobStatus::Cancelled,
        "interrupted" => JobStatus::Interrupted {
            reason: error_text(),
        },
        other => return Err(StoreError::Decode(format!("job status {other:?}"))),
    })
}

/// Decodes a row selected with `JOB_COLUMNS`. The outer error is SQLite's, the inner ours.
pub fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Job, StoreError>> {
    let status: String = row.get(5)?;
    let stage: Option<String> = row.get(6)?;
    let progress: i64 = row.get(7)?;
    let error: Option<String> = row.get(8)?;
    let model_size: Option<String> = row.get(15)?;
    let source: String = row.get(13)?;
    let position: Option<i64> = row.get(14)?;
    let times: [Option<String>; 4] = [row.get(18)?, row.get(19)?, row.get(20)?, row.get(21)?];
    let id = JobId(row.get(0)?);
    let fixed = (
        row.get::<_, Option<String>>(1)?,
        row.get::<_, Option<String>>(2)?,
        row.get::<_, String>(3)?,
        row.get::<_, Option<i64>>(4)?,
        row.get::<_, Option<String>>(9)?,
        row.get::<_, Option<String>>(10)?,
        row.get::<_, Option<String>>(11)?,
        row.get::<_, Option<String>>(12)?,
        row.get::<_, Option<i64>>(16)?,
        row.get::<_, Option<f64>>(17)?,
    );
    Ok((|| {
        let (
            cloud_job_id,
            project_id,
            file_name,
            file_id,
            printer,
            material,
            quality,
            settings,
            est_time,
            est_cost,
        ) = fixed;
        let [queued_at, started_at, completed_at, updated_at] = times;
        let queued_at = parse_time(queued_at.as_deref().unwrap_or_default())?;
        Ok(Job {
            id,
            cloud_job_id,
            project_id,
            file_name,
            file: file_id.map(FileId),
            status: status_from_columns(
                &status,
                stage.as_deref(),
                progress.clamp(0, 100) as u8,
                error,
            )?,
            printer: printer.map(PrinterId),
            material,
            quality,
            print_settings: settings,
            source: JobSource::parse(&source),
            position: position.unwrap_or(id.0),
            model_size_mm: model_size
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            estimated_time_s: est_time.and_then(|t| u64::try_from(t).ok()),
            estimated_cost: est_cost,
            queued_at,
            started_at: parse_opt_time(started_at)?,
            completed_at: parse_opt_time(completed_at)?,
            updated_at: parse_opt_time(updated_at)?.unwrap_or(queued_at),
        })
    })())
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Payload {
    Job(StoredJobRef),
    QueueReordered {
        printer: Option<String>,
        order: Vec<i64>,
    },
    PrinterState {
        printer: String,
        state: String,
        job: Option<i64>,
        detail: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredJobRef {
    id: i64,
    cloud_job_id: Option<String>,
    project_id: Option<String>,
    printer: Option<String>,
    file_name: String,
    status: String,
    stage: Option<String>,
    progress: u8,
    error: Option<String>,
}

pub fn encode_event(kind: &EventKind) -> String {
    let payload = match kind {
        EventKind::JobQueued(job) | EventKind::JobStatus(job) => Payload::Job(encode_job(job)),
        EventKind::QueueReordered { printer, order } => Payload::QueueReordered {
            printer: printer.as_ref().map(|p| p.0.clone()),
            order: order.iter().map(|j| j.0).collect(),
        },
        EventKind::PrinterState { printer, state } => Payload::PrinterState {
            printer: printer.0.clone(),
            state: state.as_str().to_owned(),
            job: match state {
                PrinterState::AwaitingBedClear { last_job } => last_job.map(|j| j.0),
                other => other.job().map(|j| j.0),
            },
            detail: match state {
                PrinterState::Disconnected { reason } => Some(reason.clone()),
                PrinterState::Error { message } => Some(message.clone()),
                _ => None,
            },
        },
    };
    serde_json::to_string(&payload).expect("event payloads always serialise")
}

fn encode_job(job: &JobRef) -> StoredJobRef {
    let (status, stage, progress, error) = status_columns(&job.status);
    StoredJobRef {
        id: job.id.0,
        cloud_job_id: job.cloud_job_id.clone(),
        project_id: job.project_id.clone(),
        printer: job.printer.as_ref().map(|p| p.0.clone()),
        file_name: job.file_name.clone(),
        status: status.to_owned(),
        stage: stage.map(str::to_owned),
        progress,
        error: error.map(str::to_owned),
    }
}

pub fn decode_event(type_name: &str, payload: &str) -> Result<EventKind, StoreError> {
    let payload: Payload = serde_json::from_str(payload)
        .map_err(|e| StoreError::Decode(format!("{type_name} event payload: {e}")))?;
    Ok(match payload {
        Payload::Job(job) => {
            let job = JobRef {
                id: JobId(job.id),
                cloud_job_id: job.cloud_job_id,
                project_id: job.project_id,
                printer: job.printer.map(PrinterId),
                file_name: job.file_name,
                status: status_from_columns(
                    &job.status,
                    job.stage.as_deref(),
                    job.progress,
                    job.error,
                )?,
            };
            if type_name == "job:queued" {
                EventKind::JobQueued(job)
            } else {
                EventKind::JobStatus(job)
            }
        }
        Payload::QueueReordered { printer, order } => EventKind::QueueReordered {
            printer: printer.map(PrinterId),
            order: order.into_iter().map(JobId).collect(),
        },
        Payload::PrinterState {
            printer,
            state,
            job,
            detail,
        } => EventKind::PrinterState {
            printer: PrinterId(printer),
            state: printer_state(&state, job.map(JobId), detail.unwrap_or_default())?,
        },
    })
}

fn printer_state(
    name: &str,
    job: Option<JobId>,
    detail: String,
) -> Result<PrinterState, StoreError> {
    let need_job =
        || job.ok_or_else(|| StoreError::Decode(format!("printer state {name} without job")));
    Ok(match name {
        "disconnected" => PrinterState::Disconnected { reason: detail },
        "idle" => PrinterState::Idle,
        "printing" => PrinterState::Printing { job: need_job()? },
        "paused" => PrinterState::Paused { job: need_job()? },
        "awaiting-bed-clear" => PrinterState::AwaitingBedClear { last_job: job },
        "error" => PrinterState::Error { message: detail },
        other => return Err(StoreError::Decode(format!("printer state {other:?}"))),
    })
}
