//! Every refusal the LAN API gives, as `{"error":{"code","message"}}` with its HTTP status.
//!
//! Handlers return `Result<_, ApiError>`; the status and the stable `code` come from the
//! variant (a command refusal keeps `CommandError::code()`, the same string the cloud sees).
//! Internal failures are logged with their cause and answered without it: the client learns
//! that something broke, the operator's log learns what.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::gateway::CommandError;
use crate::jobs::StoreError;
use crate::printer::RecoverError;
use crate::wire::ErrorJson;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or wrong API key (send it in X-Api-Key or Authorization: Bearer)")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("file {0} has no thumbnail")]
    NoThumbnail(i64),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("File too large (max {})", size_text(*.max_bytes))]
    TooLarge { max_bytes: u64 },
    #[error("{0}")]
    UnsupportedType(String),
    #[error("too many requests; try again in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// A WebSocket handshake on a connection that cannot switch protocols.
    #[error("{0}")]
    UpgradeRequired(String),
    #[error("storing the upload: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) | ApiError::NoThumbnail(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Command(e) => command_status(e),
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            ApiError::Io(_) | ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoThumbnail(_) => "no_thumbnail",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Command(e) => e.code(),
            ApiError::TooLarge { .. } => "file_too_large",
            ApiError::UnsupportedType(_) => "unsupported_file_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::UpgradeRequired(_) => "upgrade_required",
            ApiError::Io(_) | ApiError::Store(_) => "internal",
        }
    }

    fn message(&self) -> String {
        if self.status().is_server_error() && self.status() != StatusCode::SERVICE_UNAVAILABLE {
            "internal error; the gateway's log has the details".to_owned()
        } else {
            self.to_string()
        }
    }
}

/// `100MB` for 104857600; limits under a megabyte (tests, tiny setups) in bytes.
fn size_text(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        format!("{}MB", bytes / MB)
    } else {
        format!("{bytes} bytes")
    }
}

fn command_status(e: &CommandError) -> StatusCode {
    match e {
        CommandError::JobNotFound(_) | CommandError::UnknownPrinter(_) => StatusCode::NOT_FOUND,
        CommandError::FitsNoPrinter { .. } | CommandError::BadOptions(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        CommandError::Conflict(_) => StatusCode::CONFLICT,
        CommandError::Recover(e) => match e {
            RecoverError::BadOption(_) => StatusCode::BAD_REQUEST,
            RecoverError::NoSuchLayer { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RecoverError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        },
        CommandError::Printer(_) => StatusCode::SERVICE_UNAVAILABLE,
        CommandError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: ErrorJson,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "LAN API request failed");
        }
        let body = ErrorBody {
            error: ErrorJson {
                code: self.code().to_owned(),
                message: self.message(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_s } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_message_derives_the_megabytes_from_the_limit() {
        let default = ApiError::TooLarge {
            max_bytes: 104_857_600,
        };
        assert_eq!(default.to_string(), "File too large (max 100MB)");
        let small = ApiError::TooLarge { max_bytes: 1000 };
        assert_eq!(small.to_string(), "File too large (max 1000 bytes)");
    }

    #[test]
    fn internal_failures_hide_their_cause_from_the_client() {
        let e = ApiError::Io(std::io::Error::other("/var/lib/fluxprint/files: disk full"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message().contains("/var/lib"), "{}", e.message());
    }
}
