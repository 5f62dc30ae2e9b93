//! The LAN door: the status page, the REST API, the live WebSocket, the OctoPrint-compatible
//! upload routes slicers use, and `/metrics`. Every control route calls the same `Gateway`
//! methods the cloud link does.

mod live;
mod page;

pub use live::{CloudLinkState, CloudMetrics, WebMetrics};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::gateway::Gateway;

/// What every handler can reach.
pub struct WebState {
    pub gateway: Gateway,
    /// The key control routes require (from config, or generated into the state directory).
    pub api_key: Secret,
    /// Whether the page and read-only status are open without the key.
    pub public_status: bool,
    /// Where uploads are stored.
    pub files_dir: std::path::PathBuf,

    /// Counters `/metrics` reports (uploads rejected, WebSocket clients, cloud link).
    pub metrics: live::WebMetrics,
}

/// The whole LAN surface.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .merge(page::routes())
        .merge(live::routes())
        .with_state(state)
}

/// Binds the listener (errors name the address).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves until `shutdown`; open connections get a graceful end.
pub async fn serve(listener: TcpListener, state: Arc<WebState>, shutdown: CancellationToken) {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "LAN server stopped");
    }
}
