//! The gateway's status (printers and the queue in print order) and the printer controls
//! the page offers: confirming the bed is clear and the emergency stop.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::error::ApiError;
use crate::domain::PrinterId;
use crate::web::WebState;
use crate::wire::{JobJson, PrinterJson};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type Shared = State<Arc<WebState>>;

#[derive(Debug, Serialize)]
pub struct GatewayJson {
    id: String,
    version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct StatusJson {
    gateway: GatewayJson,
    printers: Vec<PrinterJson>,
    /// Queued jobs in the order they will print.
    queue: Vec<JobJson>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
}

pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: VERSION,
    })
}

pub async fn status(State(state): Shared) -> Result<Json<StatusJson>, ApiError> {
    let queue = state.gateway.store().call(|db| db.queued()).await?;
    Ok(Json(StatusJson {
        gateway: GatewayJson {
            id: state.gateway_id.clone(),
            version: VERSION,
        },
        printers: state
            .gateway
            .printer_statuses()
            .iter()
            .map(PrinterJson::from)
            .collect(),
        queue: queue
            .iter()
            .map(|j| super::jobs::shown(&state, j))
            .collect(),
    }))
}

pub async fn bed_cleared(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<PrinterJson>, ApiError> {
    let status = state.gateway.bed_cleared(&PrinterId(id)).await?;
    Ok(Json(PrinterJson::from(&status)))
}

#[derive(Debug, Serialize)]
pub struct Stopped {
    ok: bool,
}

pub async fn emergency_stop(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<Stopped>, ApiError> {
    state.gateway.emergency_stop(&PrinterId(id)).await?;
    Ok(Json(Stopped { ok: true }))
}
