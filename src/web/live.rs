//! Live routes: the WebSocket that streams every event and status change, and `/metrics`.

use std::sync::Arc;

use axum::Router;

use super::WebState;

pub fn routes() -> Router<Arc<WebState>> {
    Router::new()
}
