//! The JSON both doors speak: jobs, printers and events as the LAN API, the WebSocket and
//! the cloud link send them. Domain types convert into these at the edge; nothing inside the
//! gateway depends on a field name here. The shapes are contracts (DESIGN.md, docs/).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::BuildVolume;
use crate::domain::{JobStatus, Percent, PrinterState, Temperature, Temperatures};
use crate::gcode::estimate::Estimate;
use crate::jobs::{Accuracy, Job};
use crate::printer::{PrinterStatus, Recovery};

mod event;

pub use event::{EventBody, EventJson, ResumedJson};

/// The wire version of every envelope.
pub const VERSION: u32 = 1;

pub fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("every UTC time formats as RFC 3339")
}

/// A job, as `GET /api/jobs/{id}` and `job.submit`'s reply carry it.
#[derive(Debug, Clone, Serialize)]
pub struct JobJson {
    pub id: i64,
    pub cloud_job_id: Option<String>,
    pub project_id: Option<String>,
    pub file_name: String,
    pub status: &'static str,
    /// `fetching`, `slicing` or `ready` while queued.
    pub stage: Option<&'static str>,
    pub progress: u8,
    pub error: Option<String>,
    pub printer: Option<String>,
    pub material: Option<String>,
    pub quality: Option<String>,
    pub source: &'static str,
    pub position: i64,
    /// Our estimate, whole seconds, as analysed (not corrected for any printer).
    pub estimated_time: Option<u64>,
    /// `estimated_time` times the correction factor of the job's printer, when it has one.
    pub corrected_estimated_time: Option<u64>,
    /// What the slicer wrote into the file, whole seconds.
    pub slicer_estimated_time: Option<u64>,
    pub estimated_cost: Option<f64>,
    /// Seconds left while printing (corrected for the printer), from the file's analysis.
    pub remaining_time: Option<u64>,
    /// `/api/files/{file}/thumbnail` when the file has a thumbnail.
    pub thumbnail: Option<String>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub updated_at: String,
}

fn stage(status: &JobStatus) -> Option<&'static str> {
    match status {
        JobStatus::Queued(stage) => Some(stage.as_str()),
        _ => None,
    }
}

impl From<&Job> for JobJson {
    fn from(job: &Job) -> JobJson {
        JobJson {
            id: job.id.0,
            cloud_job_id: job.cloud_job_id.clone(),
            project_id: job.project_id.clone(),
            file_name: job.file_name.clone(),
            status: job.status.as_str(),
            stage: stage(&job.status),
            progress: job.status.progress().get(),
            error: job.status.error().map(str::to_owned),
            printer: job.printer.as_ref().map(ToString::to_string),
            material: job.material.clone(),
            quality: job.quality.clone(),
            source: job.source.as_str(),
            position: job.position,
            estimated_time: job.estimated_time_s,
            corrected_estimated_time: None,
            slicer_estimated_time: job.slicer_estimate_s,
            estimated_cost: job.estimated_cost,
            remaining_time: job.remaining_s.filter(|_| {
                matches!(
                    job.status,
                    JobStatus::Printing { .. } | JobStatus::Paused { .. }
                )
            }),
            thumbnail: job
                .file
                .filter(|_| job.has_thumbnail)
                .map(|f| thumbnail_url(f.0)),
            queued_at: time(job.queued_at),
            started_at: job.started_at.map(time),
            completed_at: job.completed_at.map(time),
            updated_at: time(job.updated_at),
        }
    }
}

/// Where a file's thumbnail is served.
pub fn thumbnail_url(file: i64) -> String {
    format!("/api/files/{file}/thumbnail")
}

impl JobJson {
    /// Adds the estimate corrected by `accuracy` (the job's printer's).
    pub fn corrected(mut self, accuracy: Option<&Accuracy>) -> JobJson {
        self.corrected_estimated_time =
            accuracy.zip(self.estimated_time).map(|(a, t)| a.correct(t));
        self
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct TemperatureJson {
    pub actual: f64,
    pub target: Option<f64>,
}

impl From<&Temperature> for TemperatureJson {
    fn from(t: &Temperature) -> TemperatureJson {
        TemperatureJson {
            actual: (t.actual_c * 10.0).round() / 10.0,
            target: t.target_c.map(|c| (c * 10.0).round() / 10.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TemperaturesJson {
    pub hotends: Vec<TemperatureJson>,
    pub bed: Option<TemperatureJson>,
}

impl From<&Temperatures> for TemperaturesJson {
    fn from(t: &Temperatures) -> TemperaturesJson {
        TemperaturesJson {
            hotends: t.hotends.iter().map(TemperatureJson::from).collect(),
            bed: t.bed.as_ref().map(TemperatureJson::from),
        }
    }
}

/// A print someone started on the printer outside the gateway (state `printing-external`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExternalJson {
    /// The file as the printer's host (OctoPrint) names it.
    pub file: String,
    /// Integer percent; `null` while unknown, and always `null` in events and the cloud's
    /// retained `state` (they change with the state, not the progress).
    pub progress: Option<u8>,
}

/// A printer's live status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrinterJson {
    pub id: String,
    /// `disconnected`, `idle`, `printing`, `paused`, `printing-external`,
    /// `awaiting-bed-clear`, `error`, `monitor-only`.
    pub state: &'static str,
    /// Why it is disconnected, in error or monitor-only.
    pub detail: Option<String>,
    /// The job on the printer, or the last job while awaiting bed clear (`null` after an
    /// external print).
    pub job: Option<i64>,
    pub progress: Option<u8>,
    /// Seconds left on the job, corrected by this printer's factor; `null` when unknown.
    pub remaining_time: Option<u64>,
    /// The same before the correction factor.
    pub remaining_time_raw: Option<u64>,
    /// The external print while the state is `printing-external`, else `null`.
    pub external: Option<ExternalJson>,
    pub temperatures: TemperaturesJson,
    pub accuracy: AccuracyJson,
}

/// How well estimates matched this printer's last completed jobs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct AccuracyJson {
    /// Completed jobs counted (at most the last 20).
    pub jobs: u32,
    /// Mean absolute error of the estimates, percent of the actual time.
    pub mean_abs_error_pct: Option<f64>,
    /// What new estimates for this printer are multiplied by (1.0 below 3 jobs).
    pub factor: f64,
}

impl From<&Accuracy> for AccuracyJson {
    fn from(a: &Accuracy) -> AccuracyJson {
        AccuracyJson {
            jobs: a.jobs,
            mean_abs_error_pct: a.mean_abs_error_pct.map(|e| (e * 10.0).round() / 10.0),
            factor: (a.factor * 1000.0).round() / 1000.0,
        }
    }
}

impl From<&PrinterStatus> for PrinterJson {
    fn from(s: &PrinterStatus) -> PrinterJson {
        let (detail, job) = state_parts(&s.state);
        PrinterJson {
            id: s.id.to_string(),
            state: s.state.as_str(),
            detail,
            job,
            progress: s.current.map(|c| c.progress.get()),
            remaining_time: s.current.and_then(|c| c.remaining).map(|r| r.corrected_s),
            remaining_time_raw: s.current.and_then(|c| c.remaining).map(|r| r.raw_s),
            external: external(&s.state, s.external.as_ref().and_then(|e| e.progress)),
            temperatures: TemperaturesJson::from(&s.temperatures),
            accuracy: AccuracyJson::from(&s.accuracy),
        }
    }
}

fn external(state: &PrinterState, progress: Option<Percent>) -> Option<ExternalJson> {
    match state {
        PrinterState::PrintingExternal { file } => Some(ExternalJson {
            file: file.clone(),
            progress: progress.map(Percent::get),
        }),
        _ => None,
    }
}

fn state_parts(state: &PrinterState) -> (Option<String>, Option<i64>) {
    match state {
        PrinterState::Disconnected { reason } => (Some(reason.clone()), None),
        PrinterState::Error { message } => (Some(message.clone()), None),
        PrinterState::MonitorOnly { reason } => (Some(reason.clone()), None),
        PrinterState::AwaitingBedClear { last_job } => (None, last_job.map(|j| j.0)),
        other => (None, other.job().map(|j| j.0)),
    }
}

/// A recovery, planned or started (`GET /api/jobs/{id}/recovery`, the answer to
/// `POST /api/jobs/{id}/recover` and `job.recover`): where the print resumes and what the
/// printer does first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecoveryJson {
    pub gateway_job: i64,
    pub printer: String,
    /// The layer the print resumes at, its Z (with the offset) and its first line (0-based).
    pub layer: u32,
    pub z_mm: f64,
    pub line: u64,
    /// The last line and layer the firmware confirmed before the interruption.
    pub confirmed_line: u64,
    pub confirmed_layer: u32,
    /// Where the nozzle stopped (the Z of the last confirmed line, without the offset).
    pub nozzle_z_mm: f64,
    pub z_offset_mm: f64,
    /// The G-code run before the file continues.
    pub prologue: Vec<String>,
}

impl From<&Recovery> for RecoveryJson {
    fn from(r: &Recovery) -> RecoveryJson {
        RecoveryJson {
            gateway_job: r.job.0,
            printer: r.printer.to_string(),
            layer: r.layer.number,
            z_mm: r.layer.z + r.z_offset_mm,
            line: r.layer.line,
            confirmed_line: r.confirmed_line,
            confirmed_layer: r.confirmed_layer,
            nozzle_z_mm: r.nozzle_z,
            z_offset_mm: r.z_offset_mm,
            prologue: r.prologue.clone(),
        }
    }
}

/// An estimate, as `POST /api/estimate` and the cloud's `estimate` command answer it (times in
/// whole seconds, cost in the material table's currency).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EstimateJson {
    pub estimated_time: u64,
    pub filament_mm: f64,
    pub filament_g: f64,
    pub estimated_cost: f64,
    /// Whether the model fits the chosen printer (or, without one, any printer here).
    pub fits: bool,
    /// Why it does not fit, naming the sizes.
    pub fits_error: Option<String>,
    pub model_size_mm: Option<[f64; 3]>,
    /// What the slicer wrote into the file, for comparison (G-code only).
    pub slicer_estimated_time: Option<u64>,
    pub layers: Option<u32>,
}

impl EstimateJson {
    /// `volumes`: the printers the model may go to; `estimate.fits` was checked against the
    /// first, `fits` here against all of them.
    pub fn new(estimate: Estimate, volumes: &[BuildVolume]) -> EstimateJson {
        let fits_somewhere = |[x, y, z]: [f64; 3]| {
            volumes
                .iter()
                .any(|v| x <= v.x_mm && y <= v.y_mm && z <= v.z_mm)
        };
        let fits = estimate.model_size_mm.is_none_or(fits_somewhere);
        EstimateJson {
            estimated_time: estimate.estimated_time_s,
            filament_mm: (estimate.filament_mm * 10.0).round() / 10.0,
            filament_g: (estimate.filament_g * 100.0).round() / 100.0,
            estimated_cost: (estimate.estimated_cost * 100.0).round() / 100.0,
            fits,
            fits_error: (!fits)
                .then(|| estimate.fits.err().map(|e| e.to_string()))
                .flatten(),
            model_size_mm: estimate.model_size_mm,
            slicer_estimated_time: estimate.slicer_estimate_s,
            layers: estimate.layers,
        }
    }
}

/// `{"error":{"code","message"}}` (LAN) and the `error` of a cloud reply.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorJson {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests;
