//! The OctoPrint-compatible subset slicers use to "send to printer": PrusaSlicer, OrcaSlicer
//! and Cura (OctoPrint plugin) configured with this gateway as an OctoPrint host.
//!
//! - `GET /api/version`: the slicers' connection test; PrusaSlicer and OrcaSlicer require
//!   an `api` field and a `text` starting with "OctoPrint".
//! - `POST /api/files/local`: multipart `file` (the name in the part's Content-Disposition)
//!   with text parts `print` and `select` ("true"/"false"), and `path` (PrusaSlicer, Orca),
//!   `plateindex` (Orca) which are accepted and ignored: files are stored flat. `print=true`
//!   queues a job (its G-code analysed as it arrives when `print` precedes the file part, as
//!   PrusaSlicer and OrcaSlicer send it); otherwise the file is only stored. Answers 201
//!   with OctoPrint's shape (`done`, `files.local.{name,origin,refs}`) and, when a job was
//!   queued, `Location`.
//!
//! Both need the API key in `X-Api-Key`, which is how all three slicers send it. Uploads follow
//! the same size, type and naming rules as `POST /api/jobs`.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::printers::VERSION;
use super::upload;
use crate::gateway::QueueRequest;
use crate::jobs::JobSource;
use crate::web::WebState;

/// The OctoPrint release whose API this subset follows.
pub const OCTOPRINT_VERSION: &str = "1.11.0";

#[derive(Debug, Serialize)]
pub struct VersionJson {
    api: &'static str,
    server: &'static str,
    text: String,
}

pub async fn version() -> Json<VersionJson> {
    Json(VersionJson {
        api: "0.1",
        server: OCTOPRINT_VERSION,
        text: format!("OctoPrint {OCTOPRINT_VERSION} (FluxPrint Gateway {VERSION})"),
    })
}

#[derive(Debug, Serialize)]
struct Refs {
    /// The queued job, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
}

#[derive(Debug, Serialize)]
struct LocalFile {
    name: String,
    display: String,
    path: String,
    origin: &'static str,
    refs: Refs,
}

#[derive(Debug, Serialize)]
struct Files {
    local: LocalFile,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadJson {
    files: Files,
    done: bool,
    effective_select: bool,
    effective_print: bool,
    /// The gateway's job number when `print` queued one (not part of OctoPrint's reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<i64>,
}

pub async fn upload(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    // A file sent to be printed is analysed as it arrives when `print` comes first (as
    // PrusaSlicer and OrcaSlicer send it); otherwise the intake reads it after the upload.
    let analyse = upload::Analyse::along_if(&headers, "print");
    let upload =
        upload::receive(multipart, &state.files_dir, state.max_upload_bytes, analyse).await?;
    let print = upload.flag("print");
    if print {
        upload.count_analysis(&state.metrics);
    }
    let display = upload.file.display_name.clone();
    let (stored, job) = if print {
        let queue = QueueRequest {
            options: None,
            printer: None,
            material: None,
            quality: None,
            source: JobSource::Slicer,
        };
        let (stored, job) = state.gateway.queue_file(upload.file, queue).await?;
        (stored, Some(job.id.0))
    } else {
        (state.gateway.keep_file(upload.file).await?, None)
    };
    let resource = job.map(|id| format!("/api/jobs/{id}"));
    let body = UploadJson {
        files: Files {
            local: LocalFile {
                name: stored.stored_name.clone(),
                display,
                path: stored.stored_name,
                origin: "local",
                refs: Refs {
                    resource: resource.clone(),
                },
            },
        },
        done: true,
        effective_select: print,
        effective_print: print,
        job,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some(location) = resource.and_then(|r| HeaderValue::from_str(&r).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
