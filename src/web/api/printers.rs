//! The gateway's status (printers and the queue in print order) and the printer controls
//! the page offers: confirming the bed is clear and the emergency stop.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::certificate::{CertificateJson, CloudCertificate};
use super::error::ApiError;
use super::jobs::shown;
use crate::domain::PrinterId;
use crate::gateway::Gateway;
use crate::jobs::Job;
use crate::web::WebState;
use crate::wire::{JobJson, PrinterJson};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type Shared = State<Arc<WebState>>;

#[derive(Debug, Serialize)]
pub struct GatewayJson {
    id: String,
    version: &'static str,
}

/// `GET /api/status`; the WebSocket's snapshot carries the same fields.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    gateway: GatewayJson,
    printers: Vec<PrinterJson>,
    /// Queued jobs in the order they will print.
    queue: Vec<JobJson>,
    /// The cloud link certificate's validity; null when the link is off or the file unreadable.
    cloud_certificate: Option<CertificateJson>,
}

impl StatusJson {
    /// `queue`: the queued jobs in print order (their estimates corrected by their printers'
    /// accuracy, as `GET /api/jobs/{id}` shows them). `cloud`: the link certificate, read now.
    pub fn new(
        gateway: &Gateway,
        gateway_id: &str,
        cloud: Option<&CloudCertificate>,
        printers: Vec<PrinterJson>,
        queue: &[Job],
    ) -> StatusJson {
        StatusJson {
            gateway: GatewayJson {
                id: gateway_id.to_owned(),
                version: VERSION,
            },
            printers,
            queue: queue.iter().map(|j| shown(gateway, j)).collect(),
            cloud_certificate: cloud.and_then(CloudCertificate::read),
        }
    }
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
    let queue = state.gateway.queue().await?;
    let printers = state.gateway.printer_statuses();
    let printers = printers.iter().map(PrinterJson::from).collect();
    Ok(Json(StatusJson::new(
        &state.gateway,
        &state.gateway_id,
        state.cloud_certificate.as_ref(),
        printers,
        &queue,
    )))
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
