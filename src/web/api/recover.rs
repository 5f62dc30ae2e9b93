//! Recovering an interrupted serial job: `GET /api/jobs/{id}/recovery` shows what a recovery
//! would do (the page's confirmation), `POST /api/jobs/{id}/recover` does it. Both take the
//! same options (`z_offset_mm`, `from_layer`): as query parameters for the look, as an
//! optional JSON body for the recovery. Each is one `Gateway` call, the same `job.recover`
//! makes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::jobs::{job_id, shown};
use crate::printer::RecoverOptions;
use crate::web::WebState;
use crate::wire::{JobJson, RecoveryJson};

type Shared = State<Arc<WebState>>;

/// The options, as a query or a JSON body; absent means the journal's layer, no offset.
/// `from_layer` is read as a number: `3.0` is the integer 3 to JSON Schema, and so to the
/// API document.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    z_offset_mm: Option<f64>,
    from_layer: Option<f64>,
}

impl Options {
    fn read(self) -> Result<RecoverOptions, ApiError> {
        let from_layer = match self.from_layer {
            None => None,
            Some(n) if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) => {
                Some(n as u32)
            }
            Some(n) => {
                return Err(ApiError::BadRequest(format!(
                    "from_layer must be a layer number from 1, not {n}"
                )));
            }
        };
        Ok(RecoverOptions {
            z_offset_mm: self.z_offset_mm.unwrap_or(0.0),
            from_layer,
        })
    }
}

/// The answer to a recovery: the job (now printing) and what the printer does.
#[derive(Debug, Serialize)]
pub struct Recovered {
    job: JobJson,
    recovery: RecoveryJson,
}

pub async fn plan(
    State(state): Shared,
    Path(id): Path<String>,
    query: Result<Query<Options>, QueryRejection>,
) -> Result<Json<RecoveryJson>, ApiError> {
    let Query(options) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id = job_id(&id)?;
    let plan = state.gateway.recovery_plan(id, options.read()?).await?;
    Ok(Json(RecoveryJson::from(&plan)))
}

/// The body is read as JSON whatever its content type says (like `move`); empty is `{}`.
pub async fn recover(
    State(state): Shared,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Recovered>, ApiError> {
    let id = job_id(&id)?;
    let options: Options = if body.iter().all(u8::is_ascii_whitespace) {
        Options::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "expected {{\"z_offset_mm\": <mm>, \"from_layer\": <layer from 1>}} (both \
                 optional): {e}"
            ))
        })?
    };
    let (job, plan) = state.gateway.recover(id, options.read()?).await?;
    Ok(Json(Recovered {
        job: shown(&state.gateway, &job),
        recovery: RecoveryJson::from(&plan),
    }))
}
