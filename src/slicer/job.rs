//! One slice of one job: from the job's model to its G-code, or to a failed job with the
//! reason. The sliced file becomes the job's G-code through the gateway's intake
//! (`Gateway::attach_sliced`), the same pipeline uploads and downloads go through; whatever
//! else should happen to every new G-code file belongs there.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::process::{self, RunError};
use super::profiles::{self, ProfileError, SliceRequest};
use super::{PARTIAL_PREFIX, Settings};
use crate::config::BuildVolume;
use crate::files::{self, FileGuard, FileKind};
use crate::gateway::{CommandError, Gateway, IncomingFile, IntakeError};
use crate::jobs::{Job, StoreError};

/// Why a slice did not produce the job's G-code; `Display` is the job's failure reason.
#[derive(Debug, thiserror::Error)]
pub enum SliceError {
    #[error("the job has no model file to slice")]
    NoModel,
    #[error("the model file {} is gone", .0.display())]
    ModelGone(PathBuf),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("the model fits no printer on this gateway")]
    NoBed,
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("storing the sliced G-code: {0}")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Slices `job` and makes the result its file, or fails it. `stop` ends the slice early: at
/// `shutdown` the job stays in `slicing` for the next start, otherwise it was cancelled.
pub(super) async fn slice(
    gateway: &Gateway,
    settings: &Settings,
    job: Job,
    stop: &CancellationToken,
    shutdown: &CancellationToken,
) {
    let output = settings
        .files_dir
        .join(format!("{PARTIAL_PREFIX}{}.gcode", job.id.0));
    tracing::info!(job = %job.id, file = %job.file_name, "slicing");
    let sliced = run_slicer(gateway, settings, &job, &output, stop).await;
    let outcome = match sliced {
        Ok(()) => adopt_sliced_gcode(gateway, &job, &output).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => tracing::info!(job = %job.id, "sliced; ready to print"),
        Err(SliceError::Run(RunError::Stopped)) if shutdown.is_cancelled() => {
            tracing::info!(job = %job.id, "slice stopped by shutdown; it runs again at start");
        }
        Err(SliceError::Run(RunError::Stopped)) => {
            tracing::info!(job = %job.id, "slice stopped: the job left the queue");
        }
        // A job that left the queue while its G-code was stored keeps its new state.
        Err(SliceError::Store(StoreError::NotQueued { .. })) => {}
        Err(e) => fail(gateway, &job, e).await,
    }
    remove_quietly(&output).await;
}

/// Picks the profiles and the bed, and runs the slicer into `output`.
async fn run_slicer(
    gateway: &Gateway,
    settings: &Settings,
    job: &Job,
    output: &Path,
    stop: &CancellationToken,
) -> Result<(), SliceError> {
    let file = job.file.ok_or(SliceError::NoModel)?;
    let model = (gateway.file(file).await?).ok_or(SliceError::NoModel)?;
    if !tokio::fs::try_exists(&model.path).await.unwrap_or(false) {
        return Err(SliceError::ModelGone(model.path));
    }
    let request = SliceRequest {
        profiles: (settings.profiles).select(job.material.as_deref(), job.quality.as_deref())?,
        bed: bed_for(gateway, job).ok_or(SliceError::NoBed)?,
        output: output.to_path_buf(),
        datadir: settings.datadir.clone(),
        model: model.path.clone(),
    };
    let args = request.arguments();
    let ran = process::run(&settings.command, &args, settings.timeout, stop).await;
    ran.map_err(|error| match error {
        // The slicer names the file by its stored path; people know it by its name.
        RunError::Failed { status, message } => RunError::Failed {
            status,
            message: message.replace(&*model.path.to_string_lossy(), &job.file_name),
        },
        other => other,
    })?;
    Ok(())
}

/// The bed of the job's printer, or the bed every printer the model fits shares.
fn bed_for(gateway: &Gateway, job: &Job) -> Option<BuildVolume> {
    let printers = gateway.printers().iter();
    let volumes: Vec<BuildVolume> = match &job.printer {
        Some(id) => printers
            .filter(|p| p.id() == id)
            .map(|p| *p.build_volume())
            .collect(),
        None => printers
            .map(|p| *p.build_volume())
            .filter(|v| job.fits(v))
            .collect(),
    };
    profiles::common_bed(&volumes)
}

/// Hands the sliced file at `output` to the gateway's intake, which makes it the job's
/// G-code (stored under its hash, analysed, attached with the job moving to `ready`, the
/// printers woken); the slicer's own part is hashing what its child wrote.
async fn adopt_sliced_gcode(
    gateway: &Gateway,
    job: &Job,
    output: &Path,
) -> Result<Job, SliceError> {
    let (sha256, size) = files::hash_file(output).await.map_err(SliceError::Output)?;
    let file = IncomingFile {
        guard: FileGuard::new(output.to_path_buf()),
        display_name: gcode_name(&job.file_name),
        kind: FileKind::GcodeText,
        sha256,
        size,
        analysed: None,
    };
    gateway.attach_sliced(job, file).await.map_err(|e| match e {
        IntakeError::File(e) => SliceError::Output(e),
        IntakeError::Store(e) => SliceError::Store(e),
        IntakeError::Command(e) => SliceError::Command(e),
    })
}

/// Fails the job with the slice's reason (a job that left the queue meanwhile stays as it is).
async fn fail(gateway: &Gateway, job: &Job, error: SliceError) {
    let reason = error.to_string();
    tracing::warn!(job = %job.id, %reason, "slicing failed");
    if let Err(e) = gateway.fail_waiting_job(job.id, reason).await {
        tracing::info!(job = %job.id, error = %e, "the job left the queue while slicing");
    }
}

/// `cube.stl` → `cube.gcode`.
fn gcode_name(model_name: &str) -> String {
    let stem = Path::new(model_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "model".to_owned());
    format!("{stem}.gcode")
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %path.display(), error = %e, "removing a slicer file"),
    }
}

#[cfg(test)]
mod tests {
    use super::gcode_name;

    #[test]
    fn the_sliced_file_is_named_after_the_model() {
        assert_eq!(gcode_name("cube.stl"), "cube.gcode");
        assert_eq!(gcode_name("Bracket v2.3mf"), "Bracket v2.gcode");
        assert_eq!(gcode_name(""), "model.gcode");
    }
}
