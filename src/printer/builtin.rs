//! The drivers built into the gateway, chosen by each printer's `driver` key.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::driver::{DriverError, DriverFactory, DriverLink};
use crate::config::{DriverConfig, PrinterConfig};

/// Maps `driver = "…"` to a running driver.
pub struct BuiltinDrivers;

impl DriverFactory for BuiltinDrivers {
    fn start(
        &self,
        printer: &PrinterConfig,
        _shutdown: CancellationToken,
        _tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError> {
        let driver = match printer.driver {
            DriverConfig::Serial { .. } => "serial",
            DriverConfig::OctoPrint { .. } => "octoprint",
            DriverConfig::Simulated(_) => "simulated",
        };
        Err(DriverError::NotAvailable {
            printer: printer.id.to_string(),
            driver,
        })
    }
}
