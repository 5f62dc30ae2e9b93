//! The Bambu Lab driver, for X1, P1, A1 and H2D printers in LAN mode: the printer's own MQTT
//! broker (TLS on 8883, user `bblp`, the LAN access code as password) carries its state and
//! the gateway's requests, and its implicit-FTPS server (990) takes the job's file. The
//! gateway is a client of the printer here, with one MQTT connection per printer, apart
//! from the cloud link.
//!
//! `tls` checks the printer's certificate (the configured CA, the serial as its name),
//! `report` merges the printer's status messages (P1 printers send deltas) into one state,
//! `track` turns that state into the seam's reports (sans-IO, on the job and link reports
//! `printer::host` shares with the other host drivers), `request` writes what the
//! gateway publishes, `ftps` uploads, and `task` is the loop doing the I/O.

mod ftps;
mod pushall;
pub mod report;
mod request;
mod task;
mod tls;
pub mod track;
mod upload;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use super::host_tls::TrustError;
pub use ftps::FtpsError;
pub use tls::subject_common_name;

use super::driver::{self, DriverLink};
use super::safety::Safety;
use crate::config::Secret;

/// How long the driver waits before connecting again after the printer rejected the
/// access code (a wrong code is not fixed by retrying).
pub const DEFAULT_REFUSED_BACKOFF: Duration = Duration::from_secs(300);

/// Everything one Bambu printer's driver needs.
#[derive(Debug, Clone)]
pub struct BambuSettings {
    /// The printer's id, for logs and the MQTT client id.
    pub printer: String,
    pub host: String,
    pub mqtt_port: u16,
    pub ftps_port: u16,
    pub serial: String,
    pub access_code: Secret,
    pub ca_file: PathBuf,
    pub delete_after_job: bool,
    pub safety: Safety,
    pub refused_backoff: Duration,
}

/// Starts the driver's task on `tasks`; it stops when `shutdown` is cancelled.
pub fn start(
    settings: BambuSettings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<DriverLink, TrustError> {
    let tls = tls::client_config(&settings.ca_file, &settings.serial)?;
    let (link, end) = driver::link();
    let driver = task::Driver::new(settings, tls, end.reports.clone());
    tasks.spawn(driver.run(end, shutdown));
    Ok(link)
}
