//! The Bambu driver against its real protocol peers: mosquitto as the printer's broker (TLS,
//! the serial as the certificate's name, `bblp` and the access code) and vsftpd as its
//! implicit-FTPS server, with an emulated firmware (`common::bambu::Firmware`) playing the
//! printer: it takes `project_file`/`gcode_file`, prints the uploaded file, and reports
//! PREPARE → RUNNING → FINISH like an X1 or, in deltas, like a P1.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::bambu::{ACCESS_CODE, Firmware, Printer, Reports};
use crate::common::stored::{assert_never_external, job_statuses};
use crate::common::wait::Patience;
use crate::common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::config::{DriverConfig, PrinterConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterId, PrinterState};
use fluxprint_gateway::gateway::Gateway;
use fluxprint_gateway::printer::BuiltinDrivers;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

mod failures;
mod intake;
mod options;
mod project;
mod restarts;

/// Jobs last about a second; a broken driver is caught well within this.
const JOB_PATIENCE: Duration = Duration::from_secs(60);
/// How long a test here waits for a job or the printer.
const WAIT: Patience = Patience::of(JOB_PATIENCE);

/// One test's printer (broker, file server, firmware) and the gateway's state directory.
pub struct Bench {
    pub dir: TempDir,
    pub printer: Printer,
    pub firmware: Firmware,
}

impl Bench {
    pub fn start(serial: &str, reports: Reports) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let printer = Printer::start(dir.path(), serial);
        let firmware = Firmware::start(&printer, reports);
        Bench {
            dir,
            printer,
            firmware,
        }
    }

    /// The printer as the gateway's `bambu`, trusting `ca` with `code`.
    pub fn config(&self, ca: &Path, code: &str, delete_after_job: bool) -> PrinterConfig {
        let mut p = printer("bambu", [256.0, 256.0, 256.0], false);
        p.driver = DriverConfig::Bambu {
            host: "127.0.0.1".into(),
            mqtt_port: self.printer.mqtt_port,
            ftps_port: self.printer.ftps_port,
            serial: self.printer.serial.clone(),
            access_code: Secret::new(code),
            ca_file: ca.to_path_buf(),
            delete_after_job,
        };
        p
    }

    pub fn good_config(&self) -> PrinterConfig {
        self.config(&self.printer.ca, ACCESS_CODE, false)
    }

    pub async fn gateway(&self, printer: PrinterConfig) -> app::Running {
        let drivers = BuiltinDrivers {
            state_dir: self.dir.path().to_path_buf(),
        };
        app::start(
            config(self.dir.path(), vec![printer]),
            Arc::new(drivers),
            CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    pub async fn idle_gateway(&self) -> app::Running {
        let running = self.gateway(self.good_config()).await;
        WAIT.printer(&running.gateway, "idle", |s| *s == PrinterState::Idle)
            .await;
        running
    }

    /// Submits `text` as the G-code of a new job `name`.
    pub async fn submit(&self, gw: &Gateway, name: &str, text: &str) -> JobId {
        let dir = self.dir.path();
        let new = job_with_file(gw, dir, name).await;
        std::fs::write(dir.join(format!("{name}.gcode")), text).unwrap();
        gw.submit(new).await.unwrap().id
    }

    /// Submits a job and waits until the gateway and the firmware say it prints.
    pub async fn submit_printing(&self, gw: &Gateway, name: &str) -> JobId {
        let id = self.submit(gw, name, &part(name)).await;
        WAIT.job(gw, id, "printing", |s| {
            matches!(s, JobStatus::Printing { .. })
        })
        .await;
        let subtask = format!("fluxprint-job-{}", id.0);
        (self.firmware)
            .wait("the job printing", |fw| {
                fw.subtask == subtask && fw.gcode_state == "RUNNING"
            })
            .await;
        id
    }
}

/// A small G-code file the firmware "prints".
pub fn part(name: &str) -> String {
    let moves: String = (0..200)
        .map(|i| format!("G1 X{} Y{} E{}.5 F3000\n", i % 50, i % 40, i))
        .collect();
    format!("; {name}\nM104 S220\nM140 S60\nG28\n{moves}M104 S0\n")
}

#[tokio::test]
async fn a_job_is_uploaded_over_ftps_printed_with_progress_from_p1_deltas_and_completes() {
    let bench = Bench::start("01P00A000000001", Reports::Deltas);
    let running = bench.idle_gateway().await;
    let gw = &running.gateway;
    let id = bench.submit(gw, "benchy", &part("benchy")).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;

    let progress: Vec<u8> = (job_statuses(gw, id).await.into_iter())
        .filter_map(|s| match s {
            JobStatus::Printing { progress } => Some(progress.get()),
            _ => None,
        })
        .collect();
    assert!(
        progress.iter().filter(|p| (1..100).contains(*p)).count() >= 3,
        "progress from the deltas: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    // The firmware printed exactly the job's file, as vsftpd stored it (binary, whole).
    let printed = bench.firmware.with(|fw| fw.printed.clone());
    assert_eq!(printed, vec![part("benchy").into_bytes()]);
    let name = format!("fluxprint-job-{}.gcode", id.0);
    assert!(bench.printer.files.join(&name).is_file());
    let log = bench.printer.ftps_log();
    assert!(
        log.contains(&format!("\"STOR {name}\"")) && log.contains("\"PASV\""),
        "the upload went through vsftpd in passive mode: {log}"
    );
    let commands = bench.firmware.commands();
    assert_eq!(
        commands.iter().filter(|c| *c == "pushall").count(),
        1,
        "pushall on connect only: {commands:?}"
    );
    let status = gw.printers()[0].status();
    assert!(
        (status.temperatures.hotends.first()).is_some_and(|t| [25.0, 219.5].contains(&t.actual_c)),
        "temperatures from the reports: {status:?}"
    );
    WAIT.printer(gw, "awaiting bed clear", |s| {
        *s == PrinterState::AwaitingBedClear { last_job: Some(id) }
    })
    .await;
    gw.bed_cleared(&PrinterId("bambu".into())).await.unwrap();
    WAIT.printer(gw, "idle", |s| *s == PrinterState::Idle).await;
    assert_never_external(gw, "our job is ours").await;
    running.stop().await;
}

#[tokio::test]
async fn pause_resume_and_cancel_reach_the_printer_and_the_file_is_deleted() {
    let bench = Bench::start("01S00C000000002", Reports::Full);
    bench.firmware.with(|fw| fw.step = 1);
    let running = bench
        .gateway(bench.config(&bench.printer.ca, ACCESS_CODE, true))
        .await;
    let gw = &running.gateway;
    WAIT.printer(gw, "idle", |s| *s == PrinterState::Idle).await;
    let id = bench.submit_printing(gw, "long").await;

    gw.pause(id).await.unwrap();
    WAIT.job(gw, id, "paused", |s| matches!(s, JobStatus::Paused { .. }))
        .await;
    assert_eq!(bench.firmware.with(|fw| fw.gcode_state), "PAUSE");
    gw.resume(id).await.unwrap();
    WAIT.job(gw, id, "printing again", |s| {
        matches!(s, JobStatus::Printing { .. })
    })
    .await;
    assert_eq!(bench.firmware.with(|fw| fw.gcode_state), "RUNNING");
    gw.cancel(id).await.unwrap();
    WAIT.job(gw, id, "cancelled", |s| *s == JobStatus::Cancelled)
        .await;
    assert_eq!(bench.firmware.with(|fw| fw.gcode_state), "FAILED");

    let file = bench
        .printer
        .files
        .join(format!("fluxprint-job-{}.gcode", id.0));
    let deadline = tokio::time::Instant::now() + JOB_PATIENCE;
    while file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job's file was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_never_external(gw, "our cancelled job is ours").await;
    running.stop().await;
}

#[tokio::test]
async fn a_print_started_on_the_printer_shows_as_external_then_needs_bed_clear() {
    let bench = Bench::start("01P00A000000003", Reports::Deltas);
    bench.firmware.with(|fw| fw.step = 2);
    let running = bench.idle_gateway().await;
    let gw = &running.gateway;
    bench
        .firmware
        .with(|fw| fw.print("Benchy_PLA", "/data/Metadata/plate_1.gcode"));
    let state = WAIT
        .printer(gw, "printing external", |s| {
            matches!(s, PrinterState::PrintingExternal { .. })
        })
        .await;
    assert_eq!(
        state,
        PrinterState::PrintingExternal {
            file: "Benchy_PLA".into()
        }
    );
    let second = bench.submit(gw, "after", &part("after")).await;
    WAIT.printer(gw, "awaiting bed clear after the external print", |s| {
        *s == PrinterState::AwaitingBedClear { last_job: None }
    })
    .await;
    assert!(
        matches!(gw.job(second).await.unwrap().status, JobStatus::Queued(_)),
        "no job starts during someone else's print or before the bed is cleared"
    );
    running.stop().await;
}
