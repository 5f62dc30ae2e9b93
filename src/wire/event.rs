//! Event envelopes: what the WebSocket feed and the cloud link's outbox send for each stored
//! event (`{"v":1,"seq":N,"at":"…","type":"…", …fields}`), and where a recovered print
//! resumed.

use serde::Serialize;

use super::{ExternalJson, VERSION, external, stage, state_parts, time};
use crate::domain::JobStatus;
use crate::events::{Event, EventKind, JobRef, ResumedFrom};

/// An event envelope: `{"v":1,"seq":N,"at":"…","type":"…", …fields}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventJson {
    pub v: u32,
    pub seq: u64,
    pub at: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The fields each event type adds to the envelope.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EventBody {
    Job {
        job_id: String,
        gateway_job: i64,
        project_id: Option<String>,
        printer: Option<String>,
        file_name: String,
        status: &'static str,
        stage: Option<&'static str>,
        progress: u8,
        error: Option<String>,
        /// Seconds left while printing, when the file was analysed.
        remaining_time: Option<u64>,
        /// `job:recovered` only: where the print resumed.
        #[serde(skip_serializing_if = "Option::is_none")]
        resumed_from: Option<ResumedJson>,
    },
    Queue {
        printer: Option<String>,
        order: Vec<i64>,
    },
    Printer {
        printer: String,
        state: &'static str,
        detail: Option<String>,
        job: Option<i64>,
        external: Option<ExternalJson>,
    },
    /// `events:dropped`: the outbox range that retention removed before it was acknowledged.
    Dropped { first: u64, last: u64 },
    /// `gateway:cert-renewal`: the CSR the cloud is asked to sign (answered by `cert.install`).
    CertRenewal { csr: String },
    /// `gateway:update`: a remote update's step.
    Update {
        stage: &'static str,
        version: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl From<&Event> for EventJson {
    fn from(event: &Event) -> EventJson {
        let body = match &event.kind {
            EventKind::JobQueued(job) | EventKind::JobStatus(job) => job_body(job),
            EventKind::JobRecovered { job, from } => {
                let mut body = job_body(job);
                if let EventBody::Job { resumed_from, .. } = &mut body {
                    *resumed_from = Some(ResumedJson::from(from));
                }
                body
            }
            EventKind::QueueReordered { printer, order } => EventBody::Queue {
                printer: printer.as_ref().map(ToString::to_string),
                order: order.iter().map(|j| j.0).collect(),
            },
            EventKind::PrinterState { printer, state } => {
                let (detail, job) = state_parts(state);
                EventBody::Printer {
                    printer: printer.to_string(),
                    state: state.as_str(),
                    detail,
                    job,
                    external: external(state, None),
                }
            }
            EventKind::EventsDropped { first, last } => EventBody::Dropped {
                first: *first,
                last: *last,
            },
            EventKind::CertRenewal { csr } => EventBody::CertRenewal { csr: csr.clone() },
            EventKind::Update(step) => EventBody::Update {
                stage: step.stage,
                version: step.version.clone(),
                reason: step.reason.clone(),
            },
        };
        EventJson {
            v: VERSION,
            seq: event.seq,
            at: time(event.at),
            kind: event.kind.type_name(),
            body,
        }
    }
}

/// A job event names the job by the cloud's id when the cloud submitted it, else by the
/// gateway's number; `gateway_job` always carries the gateway's number.
fn job_body(job: &JobRef) -> EventBody {
    EventBody::Job {
        job_id: job
            .cloud_job_id
            .clone()
            .unwrap_or_else(|| job.id.0.to_string()),
        gateway_job: job.id.0,
        project_id: job.project_id.clone(),
        printer: job.printer.as_ref().map(ToString::to_string),
        file_name: job.file_name.clone(),
        status: job.status.as_str(),
        stage: stage(&job.status),
        progress: job.status.progress().get(),
        error: job.status.error().map(str::to_owned),
        remaining_time: job.remaining_s.filter(|_| {
            matches!(
                job.status,
                JobStatus::Printing { .. } | JobStatus::Paused { .. }
            )
        }),
        resumed_from: None,
    }
}

/// Where a recovered print resumed (`job:recovered`, the answer to a recovery).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ResumedJson {
    pub layer: u32,
    pub z_mm: f64,
    /// The file line (0-based) the print resumed at: the layer's first line.
    pub line: u64,
}

impl From<&ResumedFrom> for ResumedJson {
    fn from(from: &ResumedFrom) -> ResumedJson {
        ResumedJson {
            layer: from.layer,
            z_mm: from.z_mm,
            line: from.line,
        }
    }
}
