//! The drivers built into the gateway, chosen by each printer's `driver` key: the serial
//! driver for Marlin-family printers, the simulated printer (the same serial driver
//! talking to a built-in firmware through a pseudo-terminal), the OctoPrint driver, the
//! Moonraker driver for Klipper printers, and the Bambu driver for Bambu Lab printers in
//! LAN mode.

use std::path::{Path, PathBuf};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bambu::{self, BambuSettings};
use super::driver::{self, DriverError, DriverFactory, DriverLink};
use super::moonraker::{self, KlipperSafety, MoonrakerSettings};
use super::octoprint::{self, OctoPrintSettings};
use super::safety::Safety;
use super::serial::protocol::{FlowControl, SessionConfig};
use super::serial::{self, PortSettings, Scripts};
use super::sim::SimDevice;
use crate::config::{DriverConfig, FlowControlMode, PrinterConfig};

/// Maps `driver = "…"` to a running driver.
pub struct BuiltinDrivers {
    /// Simulated printers' device links live under `<state_dir>/sim/`.
    pub state_dir: PathBuf,
}

impl DriverFactory for BuiltinDrivers {
    fn start(
        &self,
        printer: &PrinterConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError> {
        let start_err = |source: std::io::Error| DriverError::start(&printer.id, source);
        match &printer.driver {
            DriverConfig::Serial { port, baud } => {
                start_serial(port_settings(printer, port.clone(), *baud), shutdown, tasks)
                    .map_err(start_err)
            }
            DriverConfig::Simulated(sim) => {
                let link_path = self
                    .state_dir
                    .join("sim")
                    .join(format!("{}.tty", printer.id));
                std::fs::create_dir_all(link_path.parent().unwrap_or(Path::new(".")))
                    .map_err(start_err)?;
                let device = SimDevice::plug(sim.clone(), link_path.clone())
                    .map_err(|e| DriverError::start(&printer.id, e))?;
                let baud = 115_200;
                let link = start_serial(
                    port_settings(printer, link_path, baud),
                    shutdown.clone(),
                    tasks,
                )
                .map_err(start_err)?;
                // The device lives as long as the gateway runs; unplugged on shutdown.
                tasks.spawn(async move {
                    shutdown.cancelled().await;
                    device.stop();
                });
                Ok(link)
            }
            DriverConfig::OctoPrint {
                url,
                api_key,
                delete_after_job,
                ca_file,
            } => {
                let mut settings = OctoPrintSettings::new(
                    printer.id.to_string(),
                    url.clone(),
                    api_key.clone(),
                    Safety::from(&printer.safety),
                );
                settings.delete_after_job = *delete_after_job;
                settings.ca_file = ca_file.clone();
                octoprint::start(settings, shutdown, tasks)
                    .map_err(|e| DriverError::start(&printer.id, e))
            }
            DriverConfig::Moonraker {
                url,
                api_key,
                delete_after_job,
                ca_file,
            } => {
                let mut settings = MoonrakerSettings::new(
                    printer.id.to_string(),
                    url.clone(),
                    api_key.clone(),
                    KlipperSafety::from(&printer.safety),
                );
                settings.delete_after_job = *delete_after_job;
                settings.ca_file = ca_file.clone();
                moonraker::start(settings, shutdown, tasks)
                    .map_err(|e| DriverError::start(&printer.id, e))
            }
            DriverConfig::Bambu {
                host,
                mqtt_port,
                ftps_port,
                serial,
                access_code,
                ca_file,
                delete_after_job,
            } => {
                let settings = BambuSettings {
                    printer: printer.id.to_string(),
                    host: host.clone(),
                    mqtt_port: *mqtt_port,
                    ftps_port: *ftps_port,
                    serial: serial.clone(),
                    access_code: access_code.clone(),
                    ca_file: ca_file.clone(),
                    delete_after_job: *delete_after_job,
                    safety: Safety::from(&printer.safety),
                    refused_backoff: bambu::DEFAULT_REFUSED_BACKOFF,
                };
                bambu::start(settings, shutdown, tasks)
                    .map_err(|e| DriverError::start(&printer.id, e))
            }
        }
    }

    /// A print on OctoPrint, Klipper or a Bambu printer goes on while the gateway restarts.
    fn can_reattach(&self, printer: &PrinterConfig) -> bool {
        matches!(
            printer.driver,
            DriverConfig::OctoPrint { .. }
                | DriverConfig::Moonraker { .. }
                | DriverConfig::Bambu { .. }
        )
    }
}

pub fn port_settings(printer: &PrinterConfig, path: PathBuf, baud: u32) -> PortSettings {
    let options = &printer.serial;
    let flow_control = match options.flow_control {
        // Marlin's ring buffer holds one byte less than its size.
        FlowControlMode::Windowed => FlowControl::Windowed {
            rx_buffer_bytes: options.rx_buffer_bytes.saturating_sub(1),
            max_in_flight: options.max_in_flight,
        },
        FlowControlMode::PingPong => FlowControl::PingPong,
    };
    PortSettings {
        printer: printer.id.to_string(),
        path,
        baud,
        session: SessionConfig {
            flow_control,
            ok_timeout_ms: options.ok_timeout_s.saturating_mul(1000),
            ..SessionConfig::default()
        },
        safety: Safety::from(&printer.safety),
        scripts: Scripts {
            pause: options.pause_script.clone(),
            resume: options.resume_script.clone(),
            cancel: options.cancel_script.clone(),
        },
        stats: Default::default(),
    }
}

/// Starts the port thread; the task tracker waits for it to end at shutdown.
pub fn start_serial(
    settings: PortSettings,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<DriverLink> {
    let (mut link, end) = driver::link();
    link.figures = Some(settings.stats.clone());
    // The serial driver (also behind the simulated printer) journals its jobs.
    link.recovers = true;
    let (done_tx, done_rx) = oneshot::channel::<()>();
    serial::spawn(settings, end, shutdown, done_tx)?;
    tasks.spawn(async move {
        // Resolves when the thread drops its sender, i.e. when it has ended.
        let _ = done_rx.await;
    });
    Ok(link)
}
