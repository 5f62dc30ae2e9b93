//! Shared test harness: a driver the test controls by hand, configs, files.

pub mod bambu;
pub mod browser;
pub mod file_server;
pub mod gcode;
pub mod moonraker;
pub mod mosquitto;
pub mod octoprint;
pub mod pki;
pub mod provision;
pub mod rabbitmq;
pub mod sim;
pub mod slicing;
pub mod stored;
pub mod tls_proxy;
pub mod virtual_printer;
pub mod wait;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fluxprint_gateway::config::{
    BuildVolume, CloudConfig, Config, DownloadsConfig, DriverConfig, GatewayConfig, PrinterConfig,
    WebConfig,
};
use fluxprint_gateway::domain::{JobId, PrinterId};
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gateway::{Gateway, PlacedFile};
use fluxprint_gateway::jobs::{Job, NewJob};
use fluxprint_gateway::printer::PrinterStatus;
use fluxprint_gateway::printer::driver::{
    self, DriverCommand, DriverEnd, DriverError, DriverFactory, DriverLink,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Upper bound for waiting on something that happens within milliseconds; only hit when the
/// behaviour under test is broken (then the test fails with a message instead of hanging).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Drivers whose other end the test holds.
#[derive(Clone, Default)]
pub struct HandDrivers {
    ends: Arc<Mutex<HashMap<String, DriverEnd>>>,
}

impl HandDrivers {
    pub fn take(&self, printer: &str) -> DriverEnd {
        self.ends
            .lock()
            .unwrap()
            .remove(printer)
            .unwrap_or_else(|| panic!("no driver started for {printer}"))
    }
}

impl DriverFactory for HandDrivers {
    fn start(
        &self,
        printer: &PrinterConfig,
        _shutdown: CancellationToken,
        _tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError> {
        let (link, end) = driver::link();
        self.ends
            .lock()
            .unwrap()
            .insert(printer.id.to_string(), end);
        Ok(link)
    }
}

pub fn printer(id: &str, volume: [f64; 3], auto_start: bool) -> PrinterConfig {
    PrinterConfig {
        id: PrinterId(id.into()),
        driver: DriverConfig::Simulated(Default::default()),
        build_volume: BuildVolume {
            x_mm: volume[0],
            y_mm: volume[1],
            z_mm: volume[2],
        },
        auto_start,
        safety: Default::default(),
        serial: Default::default(),
    }
}

pub fn config(state_dir: &Path, printers: Vec<PrinterConfig>) -> Config {
    Config {
        gateway: GatewayConfig {
            id: "gw-test".into(),
            state_dir: state_dir.to_path_buf(),
            log_level: "info".into(),
        },
        web: WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            api_key: None,
            public_status: false,
            ..WebConfig::default()
        },
        cloud: CloudConfig {
            enabled: false,
            link: None,
            downloads: DownloadsConfig {
                max_bytes: 100 << 20,
                allow_hosts: vec![],
                extra_ca_file: None,
                allow_http_hosts: vec![],
                retry_budget: Duration::from_secs(30),
            },
            ..CloudConfig::default()
        },
        printers,
        slicer: Default::default(),
        update: Default::default(),
    }
}

/// Writes a small G-code file into the state dir and registers it, returning a job to submit.
pub async fn job_with_file(gateway: &Gateway, dir: &Path, name: &str) -> NewJob {
    let path = dir.join(format!("{name}.gcode"));
    std::fs::write(&path, format!("; {name}\nG28\nG1 X10 Y10\n")).unwrap();
    let file = PlacedFile {
        path,
        display_name: format!("{name}.gcode"),
        kind: FileKind::GcodeText,
        sha256: "0".repeat(64),
        size: 20,
    };
    let file = gateway.record_file(file).await.unwrap();
    NewJob {
        file_name: file.display_name.clone(),
        file: Some(file.id),
        ..NewJob::default()
    }
}

/// The next command the gateway sends this driver.
pub async fn next_command(end: &mut DriverEnd) -> DriverCommand {
    tokio::time::timeout(PATIENCE, end.commands.recv())
        .await
        .expect("the gateway sent the driver nothing")
        .expect("the gateway dropped the driver")
}

/// Waits until the printer's status satisfies `ok`.
pub async fn wait_status(
    mut watch: watch::Receiver<PrinterStatus>,
    what: &str,
    ok: impl Fn(&PrinterStatus) -> bool,
) -> PrinterStatus {
    let seen = tokio::time::timeout(PATIENCE, watch.wait_for(|s| ok(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match seen {
        Ok(status) => status.expect("printer actor stopped"),
        Err(_) => panic!("printer never reached: {what}; last {:?}", watch.borrow()),
    }
}

pub fn started_job(command: DriverCommand) -> JobId {
    match command {
        DriverCommand::Start { job, .. } => job,
        other => panic!("expected Start, got {other:?}"),
    }
}

pub async fn job(gateway: &Gateway, id: JobId) -> Job {
    gateway.job(id).await.unwrap()
}

/// Sends a report as the driver would.
pub async fn report(end: &DriverEnd, report: fluxprint_gateway::printer::driver::DriverReport) {
    end.reports.send(report).await.expect("printer actor gone");
}

/// A run of this test binary that runs only the ignored test `test` of `module` (its
/// `module_path!()`), one thread, output not captured: the child half of a test that kills a
/// gateway process or measures one alone. The caller adds environment and stdio, then
/// spawns it. The child's `println!` lines may follow libtest's "test … " on the same line.
pub fn child_test(module: &str, test: &str) -> std::process::Command {
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    child.args([
        "--ignored",
        "--exact",
        &test_name(module, test),
        "--nocapture",
        "--test-threads=1",
    ]);
    child
}

/// The name libtest knows the test `test` of `module` by: the module path without the
/// crate's name, then the test's.
fn test_name(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}
