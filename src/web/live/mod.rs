//! Live routes: the WebSocket that streams a snapshot, then every committed event and printer
//! status change (`ws`, one per client, all fed by one shared `feed` that encodes each change
//! once into a `frame`), and `/metrics` in the Prometheus text format
//! (`metrics`, with the per-printer families in `printers`).
//!
//! Both are read-only: open when `public_status` is on, else they need the API key (`auth`).

mod feed;
mod frame;
mod metrics;
mod printers;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::WebState;

pub(super) use feed::FeedSlot;
pub use metrics::{CloudLinkState, CloudMetrics, WebMetrics};

pub fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/api/ws", get(ws::upgrade))
        .route("/metrics", get(metrics::scrape))
}
