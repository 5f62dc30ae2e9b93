//! The health report the update helper waits for: `health.json` with this process's
//! version, written once the store is open, every printer's actor runs and (when the cloud
//! link is configured) the link is connected. A version that never gets there is rolled
//! back by the helper.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::files::{UpdateFiles, write_json};
use crate::cloud::LinkState;

/// What `health.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub version: String,
    pub pid: u32,
}

/// Waits until the link (if any) is connected and `alive()` holds, then writes
/// `health.json`; gives up quietly at `shutdown`.
pub async fn report_when_healthy(
    state_dir: &Path,
    link: Option<watch::Receiver<LinkState>>,
    alive: impl Fn() -> bool,
    shutdown: CancellationToken,
) {
    if let Some(mut link) = link {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            connected = link.wait_for(LinkState::is_connected) => if connected.is_err() { return },
        }
    }
    if !alive() {
        tracing::warn!("a printer actor is not running: not reporting healthy");
        return;
    }
    let files = UpdateFiles::new(state_dir);
    let health = Health {
        version: super::version().to_owned(),
        pid: std::process::id(),
    };
    let written = files
        .create_dir()
        .and_then(|()| write_json(&files.health(), &health));
    match written {
        Ok(()) => tracing::info!(version = %health.version, "healthy"),
        Err(e) => tracing::error!(error = %e, "writing the health report"),
    }
}
