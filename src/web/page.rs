//! The status page: static assets compiled into the binary (no build step, no CDN).

use std::sync::Arc;

use axum::Router;

use super::WebState;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new()
}
