//! `/metrics`: the gateway in the Prometheus text format (0.0.4), every name `fluxprint_…`.
//!
//! Two kinds of metric live here. Those the gateway counts as things happen (uploads
//! rejected, WebSocket clients, the cloud link) are `prometheus-client` objects in
//! `WebMetrics`, shared by whoever increments them. Those that describe the present (printer
//! states and temperatures, serial counters, jobs by status, outbox depth, RSS) are read at
//! scrape time from their owners, so they can never drift from the truth.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::printers::PrinterSamples;
use crate::domain::JobStatus;
use crate::gateway::StoreCounts;
use crate::web::WebState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhenLabel {
    when: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// The metrics the LAN door counts. Cheap to clone; every clone counts into the same values.
#[derive(Debug, Clone)]
pub struct WebMetrics {
    gateway_id: Arc<str>,
    uploads_rejected: Family<ReasonLabel, Counter>,
    gcode_uploads_analysed: Family<WhenLabel, Counter>,
    ws_clients: Gauge,
    ws_dropped: Counter,
    cloud: CloudMetrics,
}

impl WebMetrics {
    /// Metrics for the gateway called `gateway_id` (reported as `fluxprint_gateway_info`).
    pub fn new(gateway_id: impl Into<String>) -> WebMetrics {
        WebMetrics {
            gateway_id: gateway_id.into().into(),
            uploads_rejected: Family::default(),
            gcode_uploads_analysed: Family::default(),
            ws_clients: Gauge::default(),
            ws_dropped: Counter::default(),
            cloud: CloudMetrics::default(),
        }
    }

    pub fn gateway_id(&self) -> &str {
        &self.gateway_id
    }

    /// An upload was refused; `reason` is a short stable code (`too_large`,
    /// `unsupported_type`, `rate_limited`, … — a `CommandError::code()` fits).
    pub fn upload_rejected(&self, reason: &'static str) {
        self.uploads_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// A G-code upload to be analysed (`POST /api/jobs`, `POST /api/estimate`, or
    /// `POST /api/files/local` with `print`) was analysed as it arrived (`along`) or is read
    /// again after it was stored (`after_upload`: no `Content-Length`, large form parts,
    /// `print` after the file).
    pub fn gcode_upload_analysed(&self, along: bool) {
        let when = if along { "along" } else { "after_upload" };
        self.gcode_uploads_analysed
            .get_or_create(&WhenLabel { when })
            .inc();
    }

    /// The cloud link's metrics, to hand to the cloud link when it starts.
    pub fn cloud(&self) -> &CloudMetrics {
        &self.cloud
    }

    /// Counts a WebSocket client for as long as the guard lives.
    pub(super) fn ws_client(&self) -> ClientCount {
        self.ws_clients.inc();
        ClientCount(self.ws_clients.clone())
    }

    pub(super) fn ws_client_dropped(&self) {
        self.ws_dropped.inc();
    }

    fn register(&self, registry: &mut Registry) {
        let version = env!("CARGO_PKG_VERSION");
        registry.register(
            "gateway",
            "This gateway's id and version",
            Info::new(vec![
                ("id", self.gateway_id.to_string()),
                ("version", version.into()),
            ]),
        );
        registry.register(
            "uploads_rejected",
            "Uploads refused, by reason",
            self.uploads_rejected.clone(),
        );
        registry.register(
            "gcode_uploads_analysed",
            "G-code uploads analysed (jobs, slicers' prints, estimates) by when the analysis ran: along the upload or after it",
            self.gcode_uploads_analysed.clone(),
        );
        registry.register(
            "ws_clients",
            "WebSocket clients connected now",
            self.ws_clients.clone(),
        );
        registry.register(
            "ws_clients_dropped",
            "WebSocket clients disconnected for not keeping up (close code 1013)",
            self.ws_dropped.clone(),
        );
        self.cloud.register(registry);
    }
}

/// Decrements the WebSocket client gauge when dropped.
pub(super) struct ClientCount(Gauge);

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The state of the cloud link, as `fluxprint_cloud_link_state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudLinkState {
    Disconnected = 0,
    Connecting = 1,
    Connected = 2,
}

/// The cloud link's metrics. Registered from the start; until a cloud link runs and sets
/// them they read 0: disconnected, no reconnects (which is the truth for a gateway whose
/// cloud link is disabled or not built).
#[derive(Debug, Clone, Default)]
pub struct CloudMetrics {
    state: Gauge,
    reconnects: Counter,
}

impl CloudMetrics {
    pub fn set_state(&self, state: CloudLinkState) {
        self.state.set(state as i64);
    }

    /// The link came back after losing its connection.
    pub fn reconnected(&self) {
        self.reconnects.inc();
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "cloud_link_state",
            "Cloud link: 0 disconnected, 1 connecting, 2 connected",
            self.state.clone(),
        );
        registry.register(
            "cloud_reconnects",
            "Times the cloud link reconnected",
            self.reconnects.clone(),
        );
    }
}

/// `GET /metrics` (behind the router's read-access layer).
pub(super) async fn scrape(State(state): State<Arc<WebState>>) -> Response {
    let counts = state.gateway.store_counts().await;
    let StoreCounts {
        jobs_by_status: jobs,
        outbox_events: outbox_depth,
    } = match counts {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: reading the job store");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the job store is unavailable\n",
            )
                .into_response();
        }
    };
    let mut registry = Registry::with_prefix("fluxprint");
    state.metrics.register(&mut registry);
    register_store(&mut registry, &jobs, outbox_depth);
    registry.register_collector(Box::new(PrinterSamples::now(state.gateway.printers())));
    if let Some(cert) = &state.cloud_certificate {
        register_certificate(&mut registry, &cert.file);
    }
    if let Some(bytes) = resident_bytes() {
        let rss: Gauge = Gauge::default();
        rss.set(bytes);
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the gateway process (VmRSS)",
            rss,
        );
    }
    let mut text = String::new();
    if let Err(e) = prometheus_text::encode(&mut text, &registry) {
        tracing::error!(error = %e, "metrics: encoding");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

fn register_store(registry: &mut Registry, jobs: &[(String, u64)], outbox_depth: u64) {
    let by_status: Family<StatusLabel, Gauge> = Family::default();
    for status in JobStatus::NAMES {
        let n = jobs
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        by_status
            .get_or_create(&StatusLabel { status })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register("jobs", "Jobs in the store, by status", by_status);
    let depth: Gauge = Gauge::default();
    depth.set(i64::try_from(outbox_depth).unwrap_or(i64::MAX));
    registry.register(
        "outbox_events",
        "Events in the outbox (not yet acknowledged by the cloud)",
        depth,
    );
}

/// `cloud_cert_expiry_seconds` (the link certificate's notAfter, Unix seconds) and
/// `cloud_cert_expired` (1 once it has passed: the broker refuses the link until a renewed
/// certificate is installed). Neither when the file cannot be read.
fn register_certificate(registry: &mut Registry, file: &std::path::Path) {
    let issued = match crate::cloud::enroll::issued_file(file) {
        Ok(issued) => issued,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: reading the cloud certificate");
            return;
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expiry: Gauge = Gauge::default();
    expiry.set(issued.not_after);
    registry.register(
        "cloud_cert_expiry_seconds",
        "When the cloud link's client certificate expires (Unix time); renewed after cloud.renew_at_percent of its lifetime",
        expiry,
    );
    let expired: Gauge = Gauge::default();
    expired.set(i64::from(now >= issued.not_after));
    registry.register(
        "cloud_cert_expired",
        "1 when the cloud link's client certificate has expired (the broker refuses it)",
        expired,
    );
}

/// The process's resident set from `/proc/self/status`, in bytes (None off Linux).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tgw\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name:\tgw\n"), None);
    }

    #[test]
    fn rejected_uploads_are_counted_per_reason() {
        let metrics = WebMetrics::new("gw-test");
        metrics.upload_rejected("too_large");
        metrics.upload_rejected("too_large");
        metrics.clone().upload_rejected("rate_limited");
        let mut registry = Registry::with_prefix("fluxprint");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("fluxprint_uploads_rejected_total{reason=\"too_large\"} 2\n"));
        assert!(text.contains("fluxprint_uploads_rejected_total{reason=\"rate_limited\"} 1\n"));
        assert!(text.contains("fluxprint_cloud_link_state 0\n"));
    }
}
