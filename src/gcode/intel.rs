//! What the gateway keeps about a G-code file once, at intake: our estimate, the slicer's,
//! filament, layers, the progress table (for the remaining time while it prints) and the
//! thumbnail to show. Both doors (LAN uploads, cloud `job.submit`) and the slicer's output
//! go through [`analyse_file`] ([`analyse_project`] for a sliced Bambu project's plate) (or [`analyse_in_background`] from async code); the job store
//! keeps the result (`jobs::intel`).

use std::path::{Path, PathBuf};

use super::analysis::{self, Analysis, DoesNotFit, LinesRead};
use super::estimate::{self, EstimateError};
use super::limits::MachineLimits;
use super::materials::Materials;
use super::progress::ProgressTable;
use super::thumbnails::Thumbnail;
use crate::config::BuildVolume;

/// The analysis of one G-code file, as stored.
#[derive(Debug, Clone)]
pub struct FileIntel {
    /// Our estimate, whole seconds.
    pub estimated_time_s: u64,
    pub estimated_cost: f64,
    pub filament_mm: f64,
    pub filament_g: f64,
    /// What the slicer wrote into the file, whole seconds.
    pub slicer_estimate_s: Option<u64>,
    pub layers: Option<u32>,
    pub model_size_mm: Option<[f64; 3]>,
    /// Checked against the first of the volumes given (`Ok` when none were).
    pub fits: Result<(), DoesNotFit>,
    pub progress: ProgressTable,
    pub thumbnail: Option<Thumbnail>,
}

/// Analyses the G-code file at `path` for `material` (a name in the built-in table), checking
/// the size against the first of `volumes`. Blocking: it reads the whole file.
pub fn analyse_file(
    path: &Path,
    material: &str,
    volumes: &[BuildVolume],
) -> Result<FileIntel, EstimateError> {
    let materials = Materials::default();
    let material = materials.get(material)?;
    let found = analysis::analyse_file(path, &MachineLimits::default(), material)?;
    Ok(intel(found, volumes))
}

/// What [`analyse_file`] gives for the same file, from a pass that read it as it arrived
/// (`along`); `None` when the pass cannot finish it (a length it did not expect).
pub fn finish_lines(read: LinesRead, material: &str) -> Option<Result<FileIntel, EstimateError>> {
    let materials = Materials::default();
    let material = match materials.get(material) {
        Ok(material) => material,
        Err(e) => return Some(Err(e.into())),
    };
    Some(Ok(intel(read.finish(material)?, &[])))
}

/// As [`analyse_file`] for plate `plate` (`None`: the first) of a sliced Bambu project
/// (`.gcode.3mf`), its G-code inflated as it is read. Blocking.
pub fn analyse_project(
    path: &Path,
    plate: Option<u32>,
    material: &str,
    volumes: &[BuildVolume],
) -> Result<FileIntel, EstimateError> {
    let materials = Materials::default();
    let found = estimate::analyse_plate(path, plate, materials.get(material)?)?;
    Ok(intel(found, volumes))
}

fn intel(found: Analysis, volumes: &[BuildVolume]) -> FileIntel {
    let fits = match volumes.first() {
        Some(volume) => found.fits(volume),
        None => Ok(()),
    };
    FileIntel {
        estimated_time_s: found.estimated_time_s.round() as u64,
        estimated_cost: found.cost,
        filament_mm: found.filament_total_mm(),
        filament_g: found.filament_g,
        slicer_estimate_s: found.slicer.time_s(),
        layers: Some(found.layers),
        model_size_mm: found.model_size_mm(),
        fits,
        progress: found.progress,
        thumbnail: found.thumbnail,
    }
}

/// The analysis of a job file at `path`: from the pass that read it as it arrived when there
/// is one that can finish it, else [`analyse_in_background`].
pub async fn intel_in_background(
    path: PathBuf,
    material: Option<String>,
    streamed: Option<LinesRead>,
) -> Option<FileIntel> {
    if let Some(read) = streamed {
        let name = material.as_deref().unwrap_or("PLA");
        match finish_lines(read, name) {
            Some(Ok(intel)) => return Some(intel),
            Some(Err(e)) => {
                tracing::warn!(file = %path.display(), error = %e, "no analysis for a job file");
                return None;
            }
            None => tracing::info!("the upload's length was not foreseen; analysing the file"),
        }
    }
    analyse_in_background(path, material).await
}

/// [`analyse_file`] on a blocking thread, so the analysis never holds up async work; a file
/// that cannot be analysed is logged and yields `None` (its job goes on without estimates).
/// `material` defaults to PLA.
pub async fn analyse_in_background(path: PathBuf, material: Option<String>) -> Option<FileIntel> {
    in_background(path, material, analyse_file).await
}

/// [`analyse_project`] on a blocking thread, as [`analyse_in_background`].
pub async fn analyse_project_in_background(
    path: PathBuf,
    plate: Option<u32>,
    material: Option<String>,
) -> Option<FileIntel> {
    let analyse = move |path: &Path, material: &str, volumes: &[BuildVolume]| {
        analyse_project(path, plate, material, volumes)
    };
    in_background(path, material, analyse).await
}

async fn in_background(
    path: PathBuf,
    material: Option<String>,
    analyse: impl FnOnce(&Path, &str, &[BuildVolume]) -> Result<FileIntel, EstimateError>
    + Send
    + 'static,
) -> Option<FileIntel> {
    let material = material.unwrap_or_else(|| "PLA".to_owned());
    let shown = path.clone();
    let analysed = tokio::task::spawn_blocking(move || analyse(&path, &material, &[])).await;
    match analysed {
        Ok(Ok(intel)) => Some(intel),
        Ok(Err(e)) => {
            tracing::warn!(file = %shown.display(), error = %e, "no analysis for a job file");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "the analysis task failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/gcode")
            .join(name)
    }

    #[test]
    fn a_sliced_file_yields_estimates_a_progress_table_and_its_thumbnail() {
        let intel = analyse_file(&fixture("thumb.gcode"), "PLA", &[]).unwrap();
        assert_eq!(intel.slicer_estimate_s, Some(307));
        let thumbnail = intel.thumbnail.expect("thumbnail");
        assert_eq!((thumbnail.width, thumbnail.height), (220, 124));
        assert_eq!(
            intel.progress.total_time_s().round() as u64,
            intel.estimated_time_s
        );
    }

    #[test]
    fn an_unknown_material_is_an_error_not_a_guess() {
        assert!(analyse_file(&fixture("thumb.gcode"), "unobtainium", &[]).is_err());
    }
}
