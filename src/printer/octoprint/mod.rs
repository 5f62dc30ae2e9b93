//! The OctoPrint driver: drives a printer through OctoPrint's REST API and push channel
//! instead of a serial port, behind the same driver seam, so the actor, the queue and
//! everything above them do not know which driver a printer uses.
//!
//! `rest` speaks the REST API, `push` the websocket, `state` maps OctoPrint's state strings
//! (pure), `track` turns what OctoPrint says into reports (sans-IO, on the job and link
//! reports `printer::host` shares with the other host drivers), `printer::host_tls` builds
//! the one TLS config both channels use for `https://`, and `task` is the loop doing the
//! I/O; it checks a job's file against the printer's caps (`printer::safety::check_file`)
//! before the upload.

mod push;
mod rest;
pub mod state;
mod task;
mod track;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use super::host_tls::TrustError;
pub use rest::RestError;

use super::driver::{self, DriverLink};
use super::safety::Safety;
use crate::config::Secret;

/// The folder on OctoPrint that holds the gateway's uploads.
pub const DEFAULT_FOLDER: &str = "fluxprint";
/// How often OctoPrint is polled when its push channel cannot be used.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long the driver waits before trying again after OctoPrint rejected the API key.
pub const DEFAULT_UNAUTHORIZED_BACKOFF: Duration = Duration::from_secs(300);

/// Everything one OctoPrint printer's driver needs.
#[derive(Debug, Clone)]
pub struct OctoPrintSettings {
    /// The printer's id, for logs.
    pub printer: String,
    pub url: url::Url,
    pub api_key: Secret,
    pub safety: Safety,
    pub folder: String,
    pub delete_after_job: bool,
    pub poll_interval: Duration,
    pub unauthorized_backoff: Duration,
    /// For `https://`: CAs (PEM) trusted besides the system's, by REST and push alike.
    pub ca_file: Option<PathBuf>,
}

impl OctoPrintSettings {
    /// The defaults for a printer at `url` with `api_key`.
    pub fn new(printer: impl Into<String>, url: url::Url, api_key: Secret, safety: Safety) -> Self {
        OctoPrintSettings {
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
    settings: OctoPrintSettings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<DriverLink, RestError> {
    let tls = super::host_tls::client_config(settings.ca_file.as_deref())?;
    let rest = rest::Rest::new(settings.url.clone(), settings.api_key.clone(), tls)?;
    let (link, end) = driver::link();
    let driver = task::Driver::new(settings, rest, end.reports.clone());
    tasks.spawn(driver.run(end, shutdown));
    Ok(link)
}
