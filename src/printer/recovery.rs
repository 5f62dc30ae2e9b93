//! Recovering a job a crash, an unplug or a power cut interrupted: the plan (which layer,
//! the prologue) is made from the job's journal and its file; the printer's actor then
//! checks the bed-clear interlock, stores the recovery and hands the plan to its driver.
//! Only drivers that journal (`DriverLink::recovers`, the serial driver) can recover.

use std::path::PathBuf;

use crate::domain::{JobId, JobStatus, LayerStart, PrinterId};
use crate::gcode::{prologue::prologue, resume::find_layer};
use crate::jobs::{Job, JobStore, StoreError};

/// The largest Z correction a recovery takes (more is a wrong number, not a correction).
pub const MAX_Z_OFFSET_MM: f64 = 5.0;

/// What the operator may choose for a recovery.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecoverOptions {
    /// Added to every Z of the resumed print (positive: higher).
    pub z_offset_mm: f64,
    /// Resume at the start of this layer instead of the journal's.
    pub from_layer: Option<u32>,
}

/// A recovery, planned: what the printer will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub job: JobId,
    pub printer: PrinterId,
    pub file: PathBuf,
    /// Where the file continues: the start of this layer.
    pub layer: LayerStart,
    /// Where the nozzle stopped (the Z of the last confirmed line), before the offset.
    pub nozzle_z: f64,
    /// The last line (0-based) and layer the firmware confirmed before the interruption.
    pub confirmed_line: u64,
    pub confirmed_layer: u32,
    pub z_offset_mm: f64,
    /// What runs before the file continues.
    pub prologue: Vec<String>,
}

/// Why a job cannot be recovered. `code()` is the stable string both doors send.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("job {job} is {status}; only an interrupted job can be recovered")]
    NotInterrupted { job: JobId, status: &'static str },
    #[error(
        "job {job} printed on {printer}, whose driver does not journal its prints (only serial \
         printers' jobs can be recovered)"
    )]
    NotSerial { job: JobId, printer: String },
    #[error("nothing was journaled for job {0}: it stopped before its first layer was confirmed")]
    NothingJournaled(JobId),
    #[error("the bed of {0} was marked cleared: the part of the interrupted job is gone")]
    BedCleared(PrinterId),
    #[error("the bed of {printer} holds job {holds}'s part, not this job's")]
    BedHoldsAnother { printer: PrinterId, holds: JobId },
    #[error("layer {asked} cannot be resumed: the printer confirmed layers 1 to {printed}")]
    NoSuchLayer { asked: u32, printed: u32 },
    #[error("{0}")]
    BadOption(String),
    #[error("the job's file: {0}")]
    File(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RecoverError {
    pub fn code(&self) -> &'static str {
        match self {
            RecoverError::NotInterrupted { .. } => "conflict",
            RecoverError::NotSerial { .. } => "not_recoverable",
            RecoverError::NothingJournaled(_) => "nothing_journaled",
            RecoverError::BedCleared(_) | RecoverError::BedHoldsAnother { .. } => "bed_cleared",
            RecoverError::NoSuchLayer { .. } => "no_such_layer",
            RecoverError::BadOption(_) => "bad_request",
            RecoverError::File(_) => "file_missing",
            RecoverError::Store(_) => "internal",
        }
    }
}

/// Plans the recovery of `job` (which must be interrupted on a printer whose driver
/// `recovers`). Reads the journal, and the file when `from_layer` names another layer.
pub async fn plan(
    store: &JobStore,
    job: &Job,
    recovers: bool,
    options: RecoverOptions,
) -> Result<Recovery, RecoverError> {
    check_options(&options)?;
    let id = job.id;
    if !matches!(job.status, JobStatus::Interrupted { .. }) {
        return Err(RecoverError::NotInterrupted {
            job: id,
            status: job.status.as_str(),
        });
    }
    let printer = job.printer.clone().ok_or(RecoverError::NotSerial {
        job: id,
        printer: "no printer".into(),
    })?;
    if !recovers {
        let printer = printer.to_string();
        return Err(RecoverError::NotSerial { job: id, printer });
    }
    let file_id = job
        .file
        .ok_or(RecoverError::File("the job has no file".into()))?;
    let (point, file) = store
        .call(move |db| Ok((db.journaled(id)?, db.file(file_id)?)))
        .await?;
    let point = point.ok_or(RecoverError::NothingJournaled(id))?;
    let file = file
        .ok_or(RecoverError::File("not in the store".into()))?
        .path;
    let layer = match options.from_layer {
        None => point.layer,
        Some(asked) if asked > point.confirmed_layer || asked == 0 => {
            let printed = point.confirmed_layer;
            return Err(RecoverError::NoSuchLayer { asked, printed });
        }
        Some(asked) if asked == point.layer.number => point.layer,
        Some(asked) => {
            let path = file.clone();
            tokio::task::spawn_blocking(move || find_layer(&path, asked))
                .await
                .map_err(|e| RecoverError::File(e.to_string()))?
                .map_err(|e| RecoverError::File(e.to_string()))?
                .ok_or(RecoverError::NoSuchLayer {
                    asked,
                    printed: point.confirmed_layer,
                })?
        }
    };
    if !file.is_file() {
        return Err(RecoverError::File(format!("{} is missing", file.display())));
    }
    Ok(Recovery {
        job: id,
        printer,
        file,
        prologue: prologue(&layer.state, point.confirmed_z, options.z_offset_mm),
        layer,
        nozzle_z: point.confirmed_z,
        confirmed_line: point.confirmed_line,
        confirmed_layer: point.confirmed_layer,
        z_offset_mm: options.z_offset_mm,
    })
}

fn check_options(options: &RecoverOptions) -> Result<(), RecoverError> {
    if !options.z_offset_mm.is_finite() || options.z_offset_mm.abs() > MAX_Z_OFFSET_MM {
        return Err(RecoverError::BadOption(format!(
            "z_offset_mm must be between -{MAX_Z_OFFSET_MM} and {MAX_Z_OFFSET_MM}, not {}",
            options.z_offset_mm
        )));
    }
    if options.from_layer == Some(0) {
        return Err(RecoverError::BadOption(
            "from_layer counts from 1 (the first layer)".into(),
        ));
    }
    Ok(())
}
