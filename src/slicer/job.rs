//! One slice of one job: from the job's model to its G-code, or to a failed job with the
//! reason. [`adopt_sliced_gcode`] is the single step where a sliced file becomes the job's
//! G-code; whatever else should happen to every new G-code file belongs there.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::process::{self, RunError};
use super::profiles::{self, ProfileError, SliceRequest};
use super::{PARTIAL_PREFIX, Settings};
use crate::config::BuildVolume;
use crate::files;
use crate::gateway::Gateway;
use crate::gcode::analyse_in_background;
use crate::jobs::{Job, SlicedFile, StoreError, Transition};

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
        Ok(()) => adopt_sliced_gcode(gateway, &job, &output, &settings.files_dir).await,
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
    let model = gateway
        .store()
        .call(move |db| db.file(file))
        .await?
        .ok_or(SliceError::NoModel)?;
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

/// Makes the sliced file at `output` the job's G-code: stores it under its content hash in
/// `files_dir`, analyses it as every job's G-code is (`gcode::intel`: estimates, progress
/// table, thumbnail), and records file and analysis with the job moving to `ready` in one
/// transaction; then wakes the printers. The one place a
/// sliced file becomes a job's G-code.
pub async fn adopt_sliced_gcode(
    gateway: &Gateway,
    job: &Job,
    output: &Path,
    files_dir: &Path,
) -> Result<Job, SliceError> {
    let (sha256, size) = hash_file(output).await.map_err(SliceError::Output)?;
    let display_name = gcode_name(&job.file_name);
    let path = files::free_name(files_dir, &sha256, &files::sanitise(&display_name))
        .await
        .map_err(SliceError::Output)?;
    tokio::fs::rename(output, &path)
        .await
        .map_err(SliceError::Output)?;
    files::sync_dir(files_dir)
        .await
        .map_err(SliceError::Output)?;
    let material = (job.material.clone()).or_else(|| Some(profiles::DEFAULT_MATERIAL.to_owned()));
    let intel = analyse_in_background(path.clone(), material).await;
    let sliced = SlicedFile {
        display_name,
        path: path.clone(),
        sha256,
        size,
        intel,
    };
    let id = job.id;
    let attached = gateway
        .store()
        .call(move |db| db.attach_sliced_file(id, &sliced))
        .await;
    match attached {
        Ok(ready) => {
            gateway.printers().iter().for_each(|p| p.wake());
            Ok(ready)
        }
        Err(e) => {
            remove_quietly(&path).await;
            Err(e.into())
        }
    }
}

/// Fails the job with the slice's reason (a job that left the queue meanwhile stays as it is).
async fn fail(gateway: &Gateway, job: &crate::jobs::Job, error: SliceError) {
    let reason = error.to_string();
    tracing::warn!(job = %job.id, %reason, "slicing failed");
    let id = job.id;
    let failed = gateway
        .store()
        .call(move |db| {
            db.write(|w| {
                w.queued_job(id)?;
                w.transition(id, Transition::Fail(reason))
            })
        })
        .await;
    if let Err(e) = failed {
        tracing::info!(job = %id, error = %e, "the job left the queue while slicing");
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

/// Lowercase hex SHA-256 and size of a file, streamed.
async fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut size = 0_u64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok((hex::encode(hasher.finalize()), size));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
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
