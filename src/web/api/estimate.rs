//! `POST /api/estimate`: our estimate for a file before it is queued (time, filament, cost,
//! whether it fits). The file is streamed and checked like an upload, analysed on a blocking
//! thread, and removed afterwards: nothing is stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use serde::Serialize;

use super::error::ApiError;
use super::upload;
use crate::config::BuildVolume;
use crate::domain::PrinterId;
use crate::gateway::CommandError;
use crate::gcode::estimate::{self, Estimate, Quality};
use crate::gcode::materials::Materials;
use crate::web::WebState;

/// The estimate as the API answers it (times in whole seconds, cost in the table's currency).
#[derive(Debug, Serialize)]
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

/// Multipart `file`, optional `material` (default PLA), `quality` (draft, standard, fine;
/// default standard) and `printer`.
pub async fn estimate(
    State(state): State<Arc<WebState>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<EstimateJson>, ApiError> {
    let upload = upload::receive(multipart, &state.files_dir, state.max_upload_bytes).await?;
    let material = upload.field("material").unwrap_or_else(|| "PLA".to_owned());
    let quality = match upload.field("quality") {
        Some(q) => Quality::parse(&q).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => Quality::Standard,
    };
    let volumes = build_volumes(&state, upload.field("printer").map(PrinterId))?;
    let (path, kind) = (upload.file.guard.path().to_path_buf(), upload.file.kind);
    let analysed = tokio::task::spawn_blocking(move || {
        let materials = Materials::default();
        let volume = volumes[0];
        estimate::for_file(&path, kind, &material, quality, &materials, &volume)
            .map(|e| (e, volumes))
    })
    .await
    .map_err(std::io::Error::other)?;
    // The upload guard removes the temporary file when `upload` drops.
    let (estimate, volumes) = analysed.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(json(estimate, &volumes)))
}

/// The chosen printer's build volume, or every printer's.
fn build_volumes(
    state: &WebState,
    printer: Option<PrinterId>,
) -> Result<Vec<BuildVolume>, ApiError> {
    let printers = state.gateway.printers();
    let volumes: Vec<BuildVolume> = printers
        .iter()
        .filter(|p| printer.as_ref().is_none_or(|id| p.id() == id))
        .map(|p| *p.build_volume())
        .collect();
    match (volumes.is_empty(), printer) {
        (true, Some(PrinterId(id))) => Err(CommandError::UnknownPrinter(id).into()),
        (true, None) => Err(ApiError::BadRequest("no printer is configured".into())),
        (false, _) => Ok(volumes),
    }
}

fn json(estimate: Estimate, volumes: &[BuildVolume]) -> EstimateJson {
    let fits_somewhere = |size: [f64; 3]| {
        volumes
            .iter()
            .any(|v| size[0] <= v.x_mm && size[1] <= v.y_mm && size[2] <= v.z_mm)
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
