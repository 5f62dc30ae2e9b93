//! The Moonraker driver: drives a Klipper printer through Moonraker's JSON-RPC websocket
//! and HTTP API, behind the same driver seam as the serial and OctoPrint drivers, so the
//! actor, the queue and everything above them do not know which driver a printer uses.
//!
//! `rpc` frames the calls and reads the answers and notifications (sans-IO), `objects`
//! merges Klipper's status updates into one state (sans-IO), `state` maps Klippy's and
//! `print_stats`' states (pure), `track` turns snapshots into reports (sans-IO), `http` and
//! `socket` are the two channels, `task` the I/O loop (sessions, backoff, polling
//! fallback), `commands` and `answers` what the loop does with the actor's commands and
//! Moonraker's answers, `caps` the safety caps as Klipper reads G-code. The TLS config is
//! `printer::host_tls`'s, the whole-file check `printer::safety`'s, and the tracker's job,
//! link reports and backoff are `printer::host`'s, shared with the other host drivers.

mod answers;
mod caps;
mod commands;
mod http;
mod objects;
mod rpc;
mod socket;
pub mod state;
mod task;
mod track;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use caps::KlipperSafety;
pub use http::HttpError;

use super::driver::{self, DriverLink};
use super::host_tls as tls;
use crate::config::Secret;

/// The folder under Moonraker's `gcodes` that holds the gateway's uploads.
pub const DEFAULT_FOLDER: &str = "fluxprint";
/// How often Klipper is polled when the websocket cannot be used (and Klippy is asked
/// after while it is not ready).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long the driver waits before trying again after Moonraker rejected the API key.
pub const DEFAULT_UNAUTHORIZED_BACKOFF: Duration = Duration::from_secs(300);

/// Everything one Moonraker printer's driver needs.
#[derive(Debug, Clone)]
pub struct MoonrakerSettings {
    /// The printer's id, for logs and the name the driver gives Moonraker.
    pub printer: String,
    pub url: url::Url,
    /// `None` when Moonraker trusts the gateway's address.
    pub api_key: Option<Secret>,
    pub safety: KlipperSafety,
    pub folder: String,
    pub delete_after_job: bool,
    pub poll_interval: Duration,
    pub unauthorized_backoff: Duration,
    /// For `https://`: CAs (PEM) trusted besides the system's, by HTTP and websocket alike.
    pub ca_file: Option<PathBuf>,
}

impl MoonrakerSettings {
    /// The defaults for a printer at `url`.
    pub fn new(
        printer: impl Into<String>,
        url: url::Url,
        api_key: Option<Secret>,
        safety: KlipperSafety,
    ) -> Self {
        MoonrakerSettings {
            printer: printer.into(),
            url,
            api_key,
            safety,
            folder: DEFAULT_FOLDER.to_owned(),
            delete_after_job: false,
            poll_interval: DEFAULT_POLL_INTERVAL,
            unauthorized_backoff: DEFAULT_UNAUTHORIZED_BACKOFF,
            ca_file: None,
        }
    }
}

/// Starts the driver's task on `tasks`; it stops when `shutdown` is cancelled.
pub fn start(
    settings: MoonrakerSettings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<DriverLink, HttpError> {
    let tls = tls::client_config(settings.ca_file.as_deref())?;
    let http = http::Http::new(settings.url.clone(), settings.api_key.clone(), tls.clone())?;
    let (link, end) = driver::link();
    let driver = task::Driver::new(settings, http, tls, end.reports.clone());
    tasks.spawn(driver.run(end, shutdown));
    Ok(link)
}
