//! Drivers for tests of the real serial path: each printer is the built-in simulated
//! firmware behind a pseudo-terminal, driven by the real port thread, protocol and streamer.
//! The test keeps the devices (to read what the firmware accepted, unplug, press the knob)
//! and the serial counters.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fluxprint_gateway::config::{DriverConfig, PrinterConfig};
use fluxprint_gateway::printer::builtin::{port_settings, start_serial};
use fluxprint_gateway::printer::driver::{DriverError, DriverFactory, DriverLink};
use fluxprint_gateway::printer::serial::SerialStats;
use fluxprint_gateway::printer::sim::SimDevice;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A simulated printer's device and its port thread's counters.
type Plugged = (Arc<SimDevice>, Arc<SerialStats>);

#[derive(Clone)]
pub struct SimDrivers {
    dir: PathBuf,
    devices: Arc<Mutex<HashMap<String, Plugged>>>,
}

impl SimDrivers {
    pub fn new(dir: &std::path::Path) -> SimDrivers {
        SimDrivers {
            dir: dir.to_path_buf(),
            devices: Arc::default(),
        }
    }

    pub fn device(&self, printer: &str) -> Arc<SimDevice> {
        self.devices.lock().unwrap()[printer].0.clone()
    }

    pub fn stats(&self, printer: &str) -> Arc<SerialStats> {
        self.devices.lock().unwrap()[printer].1.clone()
    }
}

impl DriverFactory for SimDrivers {
    fn start(
        &self,
        printer: &PrinterConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError> {
        let DriverConfig::Simulated(sim) = &printer.driver else {
            panic!("SimDrivers drives simulated printers only");
        };
        let path = self.dir.join(format!("{}.tty", printer.id));
        let device = Arc::new(
            SimDevice::plug(sim.clone(), path.clone()).expect("plug the simulated printer"),
        );
        let mut settings = port_settings(printer, path, 115_200);
        let stats = Arc::new(SerialStats::default());
        settings.stats = stats.clone();
        let link = start_serial(settings, shutdown, tasks).expect("start the port thread");
        self.devices
            .lock()
            .unwrap()
            .insert(printer.id.to_string(), (device, stats));
        Ok(link)
    }
}

/// What the gateway asks the firmware on its own (line numbers, capabilities, reports).
const HOST_COMMANDS: [&str; 4] = ["M110", "M115", "M155", "M105"];

/// The firmware's record without the gateway's own queries.
pub fn job_commands(all: Vec<String>) -> Vec<String> {
    all.into_iter()
        .filter(|c| !HOST_COMMANDS.contains(&c.split_whitespace().next().unwrap_or("")))
        .collect()
}
