//! Bambu driver benchmark, against the peers of `tests/it/bambu.rs`: mosquitto as the
//! printer's broker (TLS, the serial as the certificate's name, `bblp` + access code),
//! vsftpd as its implicit-FTPS server (`require_ssl_reuse`), and the emulated firmware:
//!
//! - latency from a state change on the printer (pause and resume on its screen: the
//!   firmware reports at once) to the gateway's stored job event, p50/p99 over 30 of each;
//! - a 50 MB job: `Start` → the firmware asked to print it (the safety check, the FTPS
//!   upload with a resumed TLS session on the data channel, the request), next to the same
//!   file uploaded by curl (vsftpd's receiving speed over the same TLS);
//! - the gateway's extra resident memory per Bambu printer (8 printers, connected, 5 s of
//!   status reports).
//!
//!     cargo bench --bench bambu

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "common/gateway.rs"]
mod gateway;
#[path = "common/stats.rs"]
mod stats;

use std::path::Path;
use std::time::{Duration, Instant};

use common::bambu::{ACCESS_CODE, Firmware, Printer, Reports};
use common::wait::Patience;
use fluxprint_gateway::config::{DriverConfig, PrinterConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterState};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::gateway::Gateway;
use gateway::{resident_with, start};
use stats::percentiles_ms;

const REPETITIONS: usize = 30;
const MEMORY_PRINTERS: usize = 8;
const UPLOAD_BYTES: usize = 50 * 1000 * 1000;
const PATIENCE: Duration = Duration::from_secs(120);
const WAIT: Patience = Patience::of(PATIENCE);

fn bambu(id: &str, printer: &Printer) -> PrinterConfig {
    let mut p = common::printer(id, [256.0, 256.0, 256.0], true);
    p.driver = DriverConfig::Bambu {
        host: "127.0.0.1".into(),
        mqtt_port: printer.mqtt_port,
        ftps_port: printer.ftps_port,
        serial: printer.serial.clone(),
        access_code: Secret::new(ACCESS_CODE),
        ca_file: printer.ca.clone(),
        delete_after_job: false,
    };
    p
}

/// Submits a job whose file is `text` and returns its id.
async fn submit(gw: &Gateway, dir: &Path, name: &str, text: &[u8]) -> JobId {
    let new = common::job_with_file(gw, dir, name).await;
    std::fs::write(dir.join(format!("{name}.gcode")), text).unwrap();
    gw.submit(new).await.unwrap().id
}

async fn latency(printer: &Printer, firmware: &Firmware) {
    let dir = tempfile::tempdir().unwrap();
    firmware.with(|fw| fw.step = 0);
    let running = start(dir.path(), vec![bambu("x1c", printer)]).await;
    let gw = &running.gateway;
    WAIT.printer(gw, "idle", |s| *s == PrinterState::Idle).await;
    let job = submit(gw, dir.path(), "long", b"G28\nG1 X10\n").await;
    WAIT.printer(gw, "printing", |s| {
        matches!(s, PrinterState::Printing { .. })
    })
    .await;
    firmware
        .wait("running", |fw| fw.gcode_state == "RUNNING")
        .await;
    let (mut pauses, mut resumes) = (Vec::new(), Vec::new());
    for _ in 0..REPETITIONS {
        pauses.push(change(firmware, gw, job, "PAUSE").await);
        resumes.push(change(firmware, gw, job, "RUNNING").await);
    }
    for (name, samples) in [("pause", pauses), ("resume", resumes)] {
        let (p50, p99, max) = percentiles_ms(&samples);
        println!(
            "printer {name} -> gateway event: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms \
             ({} runs)",
            samples.len()
        );
    }
    firmware.change(|fw| fw.gcode_state = "FINISH");
    running.stop().await;
}

/// Sets the firmware's state and returns the time until the gateway stored the job's event
/// for it.
async fn change(firmware: &Firmware, gw: &Gateway, job: JobId, state: &'static str) -> Duration {
    let paused = state == "PAUSE";
    let mut events = gw.subscribe();
    let begun = Instant::now();
    firmware.change(|fw| fw.gcode_state = state);
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("the gateway stored the change")
            .expect("events flow");
        let seen = match event.kind {
            EventKind::JobStatus(j) if j.id == job => match j.status {
                JobStatus::Paused { .. } => paused,
                JobStatus::Printing { .. } => !paused,
                _ => false,
            },
            _ => false,
        };
        if seen {
            return begun.elapsed();
        }
    }
}

async fn upload(printer: &Printer, firmware: &Firmware) {
    let dir = tempfile::tempdir().unwrap();
    let line = b"G1 X100.125 Y80.250 E0.04213 F1800 ; a typical extrusion move\n";
    let text: Vec<u8> = line.iter().copied().cycle().take(UPLOAD_BYTES).collect();
    let running = start(dir.path(), vec![bambu("x1c", printer)]).await;
    let gw = &running.gateway;
    WAIT.printer(gw, "idle", |s| *s == PrinterState::Idle).await;
    firmware.with(|fw| fw.step = 100);
    let starts = || firmware.with(|fw| fw.printed.len());
    let before = starts();
    let begun = Instant::now();
    let job = submit(gw, dir.path(), "big", &text).await;
    let waited = (firmware).wait_within(PATIENCE * 5, "the 50 MB job", |fw| {
        fw.printed.len() > before
    });
    tokio::select! {
        _ = waited => {}
        status = ended(gw, job) => panic!("the 50 MB job ended before it printed: {status:?}"),
    }
    let took = begun.elapsed();
    let mb = UPLOAD_BYTES as f64 / 1e6;
    println!(
        "50 MB G-code: submit -> the printer asked to print it {:.2} s = {:.1} MB/s",
        took.as_secs_f64(),
        mb / took.as_secs_f64()
    );
    running.stop().await;
    let file = dir.path().join("big.gcode");
    let begun = Instant::now();
    let status = std::process::Command::new("curl")
        .args(["-sS", "-k", "--ftp-pasv", "-T"])
        .arg(&file)
        .arg(format!(
            "ftps://bblp:{ACCESS_CODE}@127.0.0.1:{}/curl.gcode",
            printer.ftps_port
        ))
        .status()
        .expect("curl");
    assert!(status.success());
    let took = begun.elapsed();
    println!(
        "the same 50 MB by curl (implicit FTPS, same vsftpd): {:.2} s = {:.1} MB/s",
        took.as_secs_f64(),
        mb / took.as_secs_f64()
    );
}

/// The job's status once it is final.
async fn ended(gw: &Gateway, job: JobId) -> JobStatus {
    let mut events = gw.subscribe();
    loop {
        let status = gw.job(job).await.unwrap().status;
        if status.is_final() {
            return status;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), events.recv()).await;
    }
}

/// One printer connected for a while, then stopped: the code and the process-wide state
/// (TLS, the runtime, the store) are in memory before the baseline is taken.
async fn warm_up(printer: &Printer) {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), vec![bambu("warm", printer)]).await;
    WAIT.printer(&running.gateway, "idle", |s| *s == PrinterState::Idle)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.stop().await;
}

async fn memory(printer: &Printer) {
    warm_up(printer).await;
    let printers = (0..MEMORY_PRINTERS)
        .map(|i| bambu(&format!("bambu{i}"), printer))
        .collect();
    // A few seconds of status reports through every printer.
    let (baseline, connected) = resident_with(printers, PATIENCE, Duration::from_secs(5)).await;
    println!(
        "RSS: {baseline} KiB before, {connected} KiB with {MEMORY_PRINTERS} Bambu printers \
         connected: about {} KiB per printer (after one printer's warm-up: code and \
         process-wide state already resident)",
        connected.saturating_sub(baseline) / MEMORY_PRINTERS as u64
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let printer = Printer::start(dir.path(), "01S00C000000099");
    let firmware = Firmware::start(&printer, Reports::Full);
    memory(&printer).await;
    latency(&printer, &firmware).await;
    upload(&printer, &firmware).await;
}
