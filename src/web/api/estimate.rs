//! `POST /api/estimate`: our estimate for a file before it is queued (time, filament, cost,
//! whether it fits). The file is streamed and checked like an upload, G-code analysed as it
//! arrives (`gcode::along`, as for `POST /api/jobs`) or else on a blocking thread afterwards,
//! and removed afterwards: nothing is stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;

use super::error::ApiError;
use super::{options, upload};
use crate::gcode::AnalysisError;
use crate::gcode::estimate::{self, EstimateError, Quality};
use crate::gcode::project::ProjectError;
use crate::web::WebState;
use crate::wire::EstimateJson;

/// Multipart `file`, optional `material` (default PLA), `quality` (draft, standard, fine;
/// default standard), `printer` and, for a sliced project (`.gcode.3mf`), `plate` (default:
/// its first).
pub async fn estimate(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<EstimateJson>, ApiError> {
    let analyse = upload::Analyse::along(&headers);
    let mut upload =
        upload::receive(multipart, &state.files_dir, state.max_upload_bytes, analyse).await?;
    upload.count_analysis(&state.metrics);
    let material = upload.field("material").unwrap_or_else(|| "PLA".to_owned());
    let quality = match upload.field("quality") {
        Some(q) => Quality::parse(&q).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => Quality::Standard,
    };
    let printer = upload.field("printer");
    let plate = (upload.field("plate").as_deref())
        .map(options::plate)
        .transpose()?;
    let volumes = state.gateway.build_volumes(printer.as_deref())?;
    let (path, kind) = (upload.file.guard.path().to_path_buf(), upload.file.kind);
    let read = upload.file.analysed.take();
    let analysed = tokio::task::spawn_blocking(move || {
        // G-code read as it arrived is finished; anything else is read from the file.
        let along = match read {
            Some(read) => estimate::for_printers_read(read, &material, &volumes)?,
            None => None,
        };
        match along {
            Some(estimate) => Ok(estimate),
            None => estimate::for_printers(&path, kind, plate, &material, quality, &volumes),
        }
        .map(|e| (e, volumes))
    })
    .await
    .map_err(std::io::Error::other)?;
    // The upload guard removes the temporary file when `upload` drops.
    let (estimate, volumes) = analysed.map_err(refusal)?;
    Ok(Json(EstimateJson::new(estimate, &volumes)))
}

/// Binary G-code and 3MF are files this route does not estimate (415); an unknown material or
/// quality, or a model that does not parse, is the request's fault (400); not reading back the
/// file just received is ours (500).
fn refusal(e: EstimateError) -> ApiError {
    match e {
        EstimateError::Unsupported(_) => ApiError::UnsupportedType(e.to_string()),
        EstimateError::Gcode(AnalysisError::Io { source, .. })
        | EstimateError::Project(ProjectError::Io(source)) => ApiError::Io(source),
        e => ApiError::BadRequest(e.to_string()),
    }
}
