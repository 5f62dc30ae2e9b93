//! How jobs and events look in the database: column lists, row decoding, the outbox payload
//! format. The payload format is persisted, so it only ever gains optional fields.

use rusqlite::Row;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{FileId, Job, JobSource, StoreError};
use crate::domain::{
    JobId, JobStatus, Percent, PrintOptions, PrinterId, PrinterState, QueuedStage,
};
use crate::events::{EventKind, JobRef, ResumedFrom};

pub const JOB_COLUMNS: &str = "id, cloud_job_id, project_id, file_name, file_id, status, stage, \
     progress, error, printer_id, material_type, quality, print_settings, source, queue_position, \
     model_size, estimated_time, estimated_cost, queued_at, started_at, completed_at, updated_at, \
     remaining_time, actual_print_time, \
     (SELECT a.slicer_estimated_time FROM file_analysis a WHERE a.file_id = print_jobs.file_id), \
     (SELECT a.thumbnail IS NOT NULL FROM file_analysis a WHERE a.file_id = print_jobs.file_id), \
     print_options";

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
    let raw = RawJob {
        id: JobId(row.get(0)?),
        status: row.get(5)?,
        stage: row.get(6)?,
        progress: row.get(7)?,
        error: row.get(8)?,
        model_size: row.get(15)?,
        source: row.get(13)?,
        position: row.get(14)?,
        estimated_time: row.get(16)?,
        times: [row.get(18)?, row.get(19)?, row.get(20)?, row.get(21)?],
        options: row.get(26)?,
    };
    let job = Job {
        id: raw.id,
        cloud_job_id: row.get(1)?,
        project_id: row.get(2)?,
        file_name: row.get(3)?,
        file: row.get::<_, Option<i64>>(4)?.map(FileId),
        status: JobStatus::Cancelled, // replaced by `decode`
        printer: row.get::<_, Option<String>>(9)?.map(PrinterId),
        material: row.get(10)?,
        quality: row.get(11)?,
        print_settings: row.get(12)?,
        options: None, // replaced by `decode`
        source: JobSource::parse(&raw.source),
        position: raw.position.unwrap_or(raw.id.0),
        model_size_mm: raw
            .model_size
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        estimated_time_s: raw.estimated_time.and_then(|t| u64::try_from(t).ok()),
        estimated_cost: row.get(17)?,
        remaining_s: row
            .get::<_, Option<i64>>(22)?
            .and_then(|t| u64::try_from(t).ok()),
        actual_print_s: row.get(23)?,
        slicer_estimate_s: row
            .get::<_, Option<i64>>(24)?
            .and_then(|t| u64::try_from(t).ok()),
        has_thumbnail: row.get::<_, Option<bool>>(25)?.unwrap_or(false),
        queued_at: OffsetDateTime::UNIX_EPOCH,
        started_at: None,
        completed_at: None,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    };
    Ok(raw.decode(job))
}

/// A job's stored print options (`print_options`, the JSON of `PrintOptions`).
fn decode_options(text: &str) -> Result<PrintOptions, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode(format!("print options: {e}")))
}

/// The columns of a job row that need more than a plain read.
struct RawJob {
    id: JobId,
    status: String,
    stage: Option<String>,
    progress: i64,
    error: Option<String>,
    model_size: Option<String>,
    source: String,
    position: Option<i64>,
    estimated_time: Option<i64>,
    /// queued_at, started_at, completed_at, updated_at
    times: [Option<String>; 4],
    options: Option<String>,
}

impl RawJob {
    /// Fills in the status and times of `job`, or says which stored value is unreadable.
    fn decode(self, job: Job) -> Result<Job, StoreError> {
        let progress = self.progress.clamp(0, 100) as u8;
        let status =
            status_from_columns(&self.status, self.stage.as_deref(), progress, self.error)?;
        let [queued_at, started_at, completed_at, updated_at] = self.times;
        let queued_at = parse_time(queued_at.as_deref().unwrap_or_default())?;
        Ok(Job {
            status,
            options: self.options.as_deref().map(decode_options).transpose()?,
            queued_at,
            started_at: parse_opt_time(started_at)?,
            completed_at: parse_opt_time(completed_at)?,
            updated_at: parse_opt_time(updated_at)?.unwrap_or(queued_at),
            ..job
        })
    }
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
    EventsDropped {
        first: u64,
        last: u64,
    },
    Recovered {
        job: StoredJobRef,
        layer: u32,
        z_mm: f64,
        line: u64,
    },
    CertRenewal {
        csr: String,
    },
    Update {
        stage: String,
        version: String,
        reason: Option<String>,
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
    /// Added in schema 3; absent in older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remaining_time: Option<u64>,
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
                PrinterState::MonitorOnly { reason } => Some(reason.clone()),
                PrinterState::PrintingExternal { file } => Some(file.clone()),
                _ => None,
            },
        },
        EventKind::EventsDropped { first, last } => Payload::EventsDropped {
            first: *first,
            last: *last,
        },
        EventKind::JobRecovered { job, from } => Payload::Recovered {
            job: encode_job(job),
            layer: from.layer,
            z_mm: from.z_mm,
            line: from.line,
        },
        EventKind::CertRenewal { csr } => Payload::CertRenewal { csr: csr.clone() },
        EventKind::Update(step) => Payload::Update {
            stage: step.stage.to_owned(),
            version: step.version.clone(),
            reason: step.reason.clone(),
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
        remaining_time: job.remaining_s,
    }
}

pub fn decode_event(type_name: &str, payload: &str) -> Result<EventKind, StoreError> {
    let payload: Payload = serde_json::from_str(payload)
        .map_err(|e| StoreError::Decode(format!("{type_name} event payload: {e}")))?;
    Ok(match payload {
        Payload::Recovered {
            job,
            layer,
            z_mm,
            line,
        } => EventKind::JobRecovered {
            job: decode_job(job)?,
            from: ResumedFrom { layer, z_mm, line },
        },
        Payload::Job(job) => {
            let job = decode_job(job)?;
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
        Payload::EventsDropped { first, last } => EventKind::EventsDropped { first, last },
        Payload::CertRenewal { csr } => EventKind::CertRenewal { csr },
        Payload::Update {
            stage,
            version,
            reason,
        } => EventKind::Update(crate::events::UpdateStep {
            stage: crate::events::UPDATE_STAGES
                .into_iter()
                .find(|s| *s == stage)
                .ok_or_else(|| StoreError::Decode(format!("unknown update stage {stage:?}")))?,
            version,
            reason,
        }),
    })
}

fn decode_job(job: StoredJobRef) -> Result<JobRef, StoreError> {
    Ok(JobRef {
        id: JobId(job.id),
        cloud_job_id: job.cloud_job_id,
        project_id: job.project_id,
        printer: job.printer.map(PrinterId),
        file_name: job.file_name,
        status: status_from_columns(&job.status, job.stage.as_deref(), job.progress, job.error)?,
        remaining_s: job.remaining_time,
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
        "printing-external" => PrinterState::PrintingExternal { file: detail },
        "awaiting-bed-clear" => PrinterState::AwaitingBedClear { last_job: job },
        "error" => PrinterState::Error { message: detail },
        "monitor-only" => PrinterState::MonitorOnly { reason: detail },
        other => return Err(StoreError::Decode(format!("printer state {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printer_state_event_for_an_external_print_keeps_its_file_through_the_outbox() {
        let kind = EventKind::PrinterState {
            printer: PrinterId("octo".into()),
            state: PrinterState::PrintingExternal {
                file: "benchy.gcode".into(),
            },
        };
        let stored = encode_event(&kind);
        assert_eq!(decode_event("printer:state", &stored).unwrap(), kind);
    }
}
