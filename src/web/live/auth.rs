//! The read-only check the live routes share: open when `public_status` is on, else the API
//! key in `X-Api-Key`, `Authorization: Bearer <key>` or (WebSocket only, since browsers
//! cannot set headers there) `?api_key=<key>`. Keys are compared in constant time.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::web::WebState;
use crate::wire::ErrorJson;

/// Whether this request may read; `query_key` is the `?api_key=` of a WebSocket upgrade.
pub(super) fn may_read(state: &WebState, headers: &HeaderMap, query_key: Option<&str>) -> bool {
    if state.public_status {
        return true;
    }
    let expected = state.api_key.expose().as_bytes();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let offered = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or(bearer)
        .or(query_key);
    offered.is_some_and(|key| bool::from(key.as_bytes().ct_eq(expected)))
}

/// `401` with the contract's error body.
pub(super) fn unauthorized() -> Response {
    let error = ErrorJson {
        code: "unauthorized".into(),
        message: "missing or wrong API key".into(),
    };
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": error })),
    )
        .into_response()
}
