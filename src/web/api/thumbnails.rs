//! `GET /api/files/{id}/thumbnail`: the image the slicer embedded in a stored file, as the
//! analysis kept it at intake. A stored file never changes, so its thumbnail may be cached for
//! good; `private` because read access may need the API key (`public_status = false`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::jobs::FileId;
use crate::web::WebState;

/// A year: the file behind the id never changes.
const CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

pub async fn thumbnail(
    State(state): State<Arc<WebState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("file id must be a number, not {id:?}")))?;
    let found = state.gateway.thumbnail(FileId(file)).await?;
    let image = found.ok_or(ApiError::NoThumbnail(file))?;
    Ok((
        [
            (header::CONTENT_TYPE, image.mime),
            (header::CACHE_CONTROL, CACHE_CONTROL.to_owned()),
        ],
        image.bytes,
    )
        .into_response())
}
