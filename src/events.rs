//! Gateway events: every state change a listener (cloud, page, metrics) cares about.
//!
//! An event gets the next gateway-wide `seq` when the job store commits it to the outbox
//! (in the same transaction as the change it describes), and only then is it fanned out on
//! the broadcast channel. A listener that falls behind the broadcast reads the outbox from
//! the last `seq` it saw, so nothing is lost by a slow listener.

use time::OffsetDateTime;

use crate::domain::{JobId, JobStatus, PrinterId, PrinterState};

/// A committed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub at: OffsetDateTime,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A job entered the queue.
    JobQueued(JobRef),
    /// A job changed status or progress (`print:status-update` on the wire).
    JobStatus(JobRef),
    /// An interrupted job prints again from its journal (`job:recovered`): where it resumed.
    JobRecovered { job: JobRef, from: ResumedFrom },
    /// The queue order changed (a move); carries the new order of that queue.
    QueueReordered {
        printer: Option<PrinterId>,
        order: Vec<JobId>,
    },
    /// A printer changed state (including the bed-clear interlock).
    PrinterState {
        printer: PrinterId,
        state: PrinterState,
    },
    /// Unacknowledged events `first..=last` left the outbox by the retention limits
    /// (`events:dropped`): a listener that missed them cannot replay them any more.
    EventsDropped { first: u64, last: u64 },
    /// The gateway asks the cloud to sign a new certificate (`gateway:cert-renewal`): the CSR
    /// (PEM) for the key it just made; the cloud answers with the command `cert.install`.
    CertRenewal { csr: String },
    /// A remote update went a step further (`gateway:update`).
    Update(UpdateStep),
}

/// A step of a remote update: `stage` is one of `UPDATE_STAGES`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateStep {
    pub stage: &'static str,
    pub version: String,
    pub reason: Option<String>,
}

/// The `gateway:update` stages, in the order an update goes through them.
pub const UPDATE_STAGES: [&str; 7] = [
    "downloading",
    "verifying",
    "waiting-idle",
    "installing",
    "committed",
    "rolled-back",
    "refused",
];

impl EventKind {
    /// The event type string, stable across versions (stored in the outbox).
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::JobQueued(_) => "job:queued",
            EventKind::JobStatus(_) => "print:status-update",
            EventKind::JobRecovered { .. } => "job:recovered",
            EventKind::QueueReordered { .. } => "queue:reordered",
            EventKind::PrinterState { .. } => "printer:state",
            EventKind::EventsDropped { .. } => "events:dropped",
            EventKind::CertRenewal { .. } => "gateway:cert-renewal",
            EventKind::Update(_) => "gateway:update",
        }
    }
}

/// Where a recovered job resumed: the layer, its Z and the file line (0-based) it starts at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumedFrom {
    pub layer: u32,
    pub z_mm: f64,
    pub line: u64,
}

/// The part of a job that every job event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRef {
    pub id: JobId,
    /// The cloud's id for the job, when the cloud submitted it.
    pub cloud_job_id: Option<String>,
    pub project_id: Option<String>,
    pub printer: Option<PrinterId>,
    pub file_name: String,
    pub status: JobStatus,
    /// Seconds left while printing (from the file's analysis), when known.
    pub remaining_s: Option<u64>,
}
