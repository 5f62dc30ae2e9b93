//! The LAN REST API (WEB-CONTRACT.md): routes, which gate each passes (open, read-only,
//! key + rate limit), JSON errors for unknown routes, and the OpenAPI document.
//!
//! Gates, outermost first: security headers (every response) → rate limit (control and
//! uploads) → API key (control and uploads always; read-only routes unless `public_status`).
//! Upload routes have axum's body limit off: `upload` enforces `web.max_upload_bytes` while
//! the file streams to disk.

pub mod auth;
pub mod certificate;
pub mod error;
mod estimate;
pub mod headers;
pub mod jobs;
pub mod limit;
pub mod octoprint;
mod options;
pub mod printers;
mod recover;
mod thumbnails;
pub mod upload;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::web::WebState;
use error::ApiError;

/// The OpenAPI 3.1 document of the LAN surface, written by hand (docs/openapi.json).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Every (method, path) this router serves; a test checks each is in `OPENAPI`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/status"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("GET", "/api/files/{id}/thumbnail"),
    ("GET", "/api/version"),
    ("POST", "/api/jobs"),
    ("POST", "/api/files/local"),
    ("POST", "/api/estimate"),
    ("POST", "/api/jobs/{id}/cancel"),
    ("POST", "/api/jobs/{id}/pause"),
    ("POST", "/api/jobs/{id}/resume"),
    ("POST", "/api/jobs/{id}/move"),
    ("GET", "/api/jobs/{id}/recovery"),
    ("POST", "/api/jobs/{id}/recover"),
    ("POST", "/api/printers/{id}/bed-cleared"),
    ("POST", "/api/printers/{id}/emergency-stop"),
];

pub fn routes(state: &Arc<WebState>) -> Router<Arc<WebState>> {
    let open = Router::new()
        .route("/api/health", get(printers::health))
        .route("/api/openapi.json", get(openapi));
    let read = Router::new()
        .route("/api/status", get(printers::status))
        .route("/api/jobs", get(jobs::list))
        .route("/api/jobs/{id}", get(jobs::get))
        .route("/api/jobs/{id}/recovery", get(recover::plan))
        .route("/api/files/{id}/thumbnail", get(thumbnails::thumbnail))
        .route_layer(from_fn_with_state(state.clone(), auth::read_access));
    // The slicers' connection test: a wrong key should fail it, as on OctoPrint.
    let slicer_test = Router::new()
        .route("/api/version", get(octoprint::version))
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    let uploads = Router::new()
        .route("/api/jobs", post(jobs::submit))
        .route("/api/files/local", post(octoprint::upload))
        .route("/api/estimate", post(estimate::estimate))
        .layer(DefaultBodyLimit::disable());
    let control = Router::new()
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/jobs/{id}/pause", post(jobs::pause))
        .route("/api/jobs/{id}/resume", post(jobs::resume))
        .route("/api/jobs/{id}/move", post(jobs::move_job))
        .route("/api/jobs/{id}/recover", post(recover::recover))
        .route(
            "/api/printers/{id}/bed-cleared",
            post(printers::bed_cleared),
        )
        .route(
            "/api/printers/{id}/emergency-stop",
            post(printers::emergency_stop),
        )
        .merge(uploads)
        .route_layer(from_fn_with_state(state.clone(), auth::require_key))
        .route_layer(from_fn_with_state(state.clone(), limit::limit));
    open.merge(read).merge(slicer_test).merge(control)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Unknown routes answer in the API's error shape.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_parses_and_covers_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        for (method, path) in ROUTES {
            let operation = &doc["paths"][path][method.to_ascii_lowercase()];
            assert!(
                operation.is_object(),
                "{method} {path} is missing from docs/openapi.json"
            );
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has no responses"
            );
        }
    }

    /// Schemathesis checks the statuses it meets; the ones a run rarely meets (a missing key,
    /// the rate limit) are checked here for every route.
    #[test]
    fn keyed_routes_document_401_and_every_post_route_429() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        for (method, path) in ROUTES {
            let operation = &doc["paths"][path][method.to_ascii_lowercase()];
            let security = operation["security"].as_array().expect("security");
            let keyed = security
                .iter()
                .any(|s| s.as_object().is_some_and(|s| !s.is_empty()));
            let responses = &operation["responses"];
            assert_eq!(responses["401"].is_object(), keyed, "{method} {path}: 401");
            // Control and upload routes, the POST ones, all sit behind the rate limit.
            let limited = *method == "POST";
            assert_eq!(
                responses["429"].is_object(),
                limited,
                "{method} {path}: 429"
            );
        }
    }
}
