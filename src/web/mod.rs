//! The LAN door: the status page, the REST API, the live WebSocket, the OctoPrint-compatible
//! upload routes slicers use, and `/metrics`. Every control route calls the same `Gateway`
//! methods the cloud link does.
//!
//! Start-up comes in two steps so that a bad address fails before any printer is touched:
//! `prepare` binds the listener, settles the API key and the files directory; `launch` builds
//! the state around the running `Gateway` and serves until shutdown.

pub mod api;
mod live;
mod page;

pub use live::{CloudLinkState, CloudMetrics, WebMetrics};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use api::auth::{ApiKeyError, load_or_generate_api_key};
use api::limit::RateLimiter;

use crate::config::{Config, Secret};
use crate::gateway::Gateway;

/// What every handler can reach.
pub struct WebState {
    pub gateway: Gateway,
    /// The key control routes require (from config, or generated into the state directory).
    pub api_key: Secret,
    /// Whether the page and read-only status are open without the key.
    pub public_status: bool,
    /// Where uploads are stored.
    pub files_dir: PathBuf,
    /// `gateway.id`, shown in status and snapshots.
    pub gateway_id: String,
    /// The largest file an upload may carry.
    pub max_upload_bytes: u64,
    pub rate_limit: RateLimiter,
    /// Counters `/metrics` reports (uploads rejected, WebSocket clients, cloud link).
    pub metrics: live::WebMetrics,
    /// The cloud link's client certificate, when the link is on: `/metrics`, the status and
    /// the page report its expiry (read each time, so a renewal shows at once).
    pub cloud_certificate: Option<api::certificate::CloudCertificate>,
    /// The live feed WebSocket clients share (started by the first, stopped after the last).
    feed: live::FeedSlot,
}

impl WebState {
    /// The state `config` describes; `api_key` is the settled key (`load_or_generate_api_key`).
    pub fn new(gateway: Gateway, config: &Config, api_key: Secret) -> WebState {
        WebState {
            gateway,
            api_key,
            public_status: config.web.public_status,
            files_dir: files_dir(config),
            gateway_id: config.gateway.id.clone(),
            max_upload_bytes: config.web.max_upload_bytes,
            rate_limit: RateLimiter::new(config.web.rate_limit_per_minute),
            metrics: live::WebMetrics::new(config.gateway.id.clone()),
            cloud_certificate: config.cloud.link.as_ref().map(|l| {
                api::certificate::CloudCertificate {
                    file: l.cert_file.clone(),
                    renew_at_percent: l.options.renew_at_percent,
                }
            }),
            feed: live::FeedSlot::default(),
        }
    }
}

/// `<state_dir>/files`.
pub fn files_dir(config: &Config) -> PathBuf {
    config.gateway.state_dir.join("files")
}

/// The whole LAN surface.
pub fn router(state: Arc<WebState>) -> Router {
    let read_only = page::routes()
        .merge(live::routes())
        .layer(from_fn_with_state(state.clone(), api::auth::read_access));
    Router::new()
        .merge(api::routes(&state))
        .merge(read_only)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(from_fn(api::headers::security_headers))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum WebStartError {
    #[error("cannot listen on {addr} (web.listen): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    ApiKey(#[from] ApiKeyError),
    #[error("files directory {path}: {source}")]
    FilesDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A bound listener with its key and files directory settled, not serving yet.
pub struct Prepared {
    listener: TcpListener,
    api_key: Secret,
}

/// Binds `web.listen`, loads or generates the API key, creates the files directory and
/// removes uploads a crash left half-written.
pub async fn prepare(config: &Config) -> Result<Prepared, WebStartError> {
    let addr = config.web.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| WebStartError::Bind { addr, source })?;
    let api_key = load_or_generate_api_key(&config.gateway.state_dir, config.web.api_key.as_ref())?;
    let files = files_dir(config);
    api::upload::prepare_files_dir(&files).map_err(|source| WebStartError::FilesDir {
        path: files,
        source,
    })?;
    Ok(Prepared { listener, api_key })
}

impl Prepared {
    /// Serves on the task tracker until `shutdown`; returns the bound address.
    pub fn launch(
        self,
        gateway: Gateway,
        config: &Config,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> SocketAddr {
        let addr = self.listener.local_addr().unwrap_or(config.web.listen);
        let state = Arc::new(WebState::new(gateway, config, self.api_key));
        tasks.spawn(serve(self.listener, state, shutdown));
        tracing::info!(%addr, "LAN page and API listening");
        addr
    }
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
