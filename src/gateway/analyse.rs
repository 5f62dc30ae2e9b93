//! Step 2 of the intake (`intake`): the one analysis a job file gets — G-code (a sliced
//! project's chosen plate) through `gcode::intel`, an STL model through its quick estimate.

use std::path::PathBuf;

use super::intake::{PlacedFile, QueueRequest};
use crate::config::BuildVolume;
use crate::files::FileKind;
use crate::gcode::estimate::{self, Estimate, Quality};
use crate::gcode::materials::Materials;
use crate::gcode::{FileIntel, LinesRead, analyse_project_in_background, intel_in_background};

/// Step 2 for G-code: the one analysis a job file gets (finishing the pass that read an
/// upload as it arrived, else on a blocking thread; a sliced project's is the G-code of its
/// plate `plate` (`None`: the first); `None` for other kinds and for G-code it cannot analyse).
pub(super) async fn analyse_gcode(
    file: &PlacedFile,
    plate: Option<u32>,
    material: Option<String>,
    analysed: Option<LinesRead>,
) -> Option<FileIntel> {
    match file.kind {
        FileKind::GcodeText => intel_in_background(file.path.clone(), material, analysed).await,
        FileKind::SlicedProject => {
            analyse_project_in_background(file.path.clone(), plate, material).await
        }
        FileKind::Stl | FileKind::ThreeMf | FileKind::BinaryGcode => None,
    }
}

/// The quick estimate of an STL model (time, cost, model size), on a blocking thread so
/// the analysis never holds up the caller; a file it cannot analyse is queued without one.
pub(super) async fn model_estimate(path: PathBuf, request: &QueueRequest) -> Option<Estimate> {
    let material = request.material.clone().unwrap_or_else(|| "PLA".to_owned());
    let quality = (request.quality.as_deref()).and_then(|q| Quality::parse(q).ok());
    let analysed = tokio::task::spawn_blocking(move || {
        // The build volume only decides `fits`; the gateway checks fits per printer itself.
        let any = BuildVolume {
            x_mm: f64::MAX,
            y_mm: f64::MAX,
            z_mm: f64::MAX,
        };
        let materials = Materials::default();
        estimate::for_file(
            &path,
            FileKind::Stl,
            &material,
            quality.unwrap_or(Quality::Standard),
            &materials,
            &any,
        )
    })
    .await;
    match analysed {
        Ok(Ok(estimate)) => Some(estimate),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no estimate for an uploaded file");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "the estimate task failed");
            None
        }
    }
}
