//! What the recovery tests share: a gateway with one simulated printer, a layered part, and
//! the record a resumed print must leave on the simulated firmware.

use std::sync::Arc;
use std::time::Duration;

use crate::common::sim::SimDrivers;
pub use crate::common::sim::job_commands;
use crate::common::wait::Patience;
use crate::common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::config::{DriverConfig, PrinterConfig};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterState};
use fluxprint_gateway::events::{Event, EventKind};
use fluxprint_gateway::gateway::{CommandError, Gateway};
use fluxprint_gateway::jobs::Job;
use fluxprint_gateway::printer::sim::{SimConfig, SimDevice};
use fluxprint_gateway::printer::{RecoverOptions, Recovery};
use tokio_util::sync::CancellationToken;

pub const LAYERS: u32 = 12;
pub const MOVES: u32 = 60;

/// How long a recovery test waits for a job, and for the printer.
pub const WAIT: Patience = Patience {
    job: Duration::from_secs(60),
    printer: Duration::from_secs(30),
};

/// A simulated printer slow enough (2 ms per line) to be stopped mid-print.
pub fn sim_printer() -> PrinterConfig {
    let mut p = printer("sim", [250.0, 210.0, 210.0], false);
    p.driver = DriverConfig::Simulated(SimConfig {
        speed_up: 1000.0,
        line_latency_ms: 2,
        hotend_heat_rate_c_per_s: 500.0,
        bed_heat_rate_c_per_s: 500.0,
        ..SimConfig::default()
    });
    p
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub running: app::Running,
    pub sims: SimDrivers,
}

pub async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (running, sims) = start(dir.path()).await;
    Rig { dir, running, sims }
}

pub async fn start(dir: &std::path::Path) -> (app::Running, SimDrivers) {
    let sims = SimDrivers::new(dir);
    let running = app::start(
        config(dir, vec![sim_printer()]),
        Arc::new(sims.clone()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (running, sims)
}

/// A PrusaSlicer-like part: start G-code with heaters and fan, then `layers` layers of
/// `moves` extruding moves in absolute E, each after `;LAYER_CHANGE` and its Z move.
pub fn layered(layers: u32, moves: u32) -> String {
    let mut text = String::from(
        "; layered test part\nM140 S60\nM104 S215\nM190 S60\nM109 S215\nG28\nG90\nM82\nG92 E0\nM106 S170\n",
    );
    let mut e = 0.0;
    for layer in 1..=layers {
        let z = f64::from(layer) * 0.2;
        text.push_str(&format!(";LAYER_CHANGE\n;Z:{z:.1}\nG1 Z{z:.1} F720\n"));
        for m in 0..moves {
            e += 0.05;
            let x = 50 + (m * 7 + layer) % 100;
            text.push_str(&format!("G1 X{x} Y{} E{e:.3} F1800\n", 40 + m % 60));
        }
    }
    text.push_str("M107\nM104 S0\nM140 S0\nM84\n");
    text
}

pub async fn submit(gw: &Gateway, dir: &std::path::Path, name: &str, text: &str) -> JobId {
    let mut new = job_with_file(gw, dir, name).await;
    std::fs::write(dir.join(format!("{name}.gcode")), text).unwrap();
    new.printer = None;
    gw.submit(new).await.unwrap().id
}

/// Recovers `id` once the printer is connected again (until then it answers
/// `printer_unavailable`: the port reopens and the firmware boots after a replug or restart).
/// Pulls the printer's cable mid-print, waits for job `id` to be interrupted, plugs it back
/// and waits for the printer to hold the part (awaiting bed clear).
pub async fn unplug_until_interrupted_then_replug(gw: &Gateway, device: &SimDevice, id: JobId) {
    device.unplug();
    WAIT.job(gw, id, "interrupted", |s| {
        matches!(s, JobStatus::Interrupted { .. })
    })
    .await;
    device.replug().unwrap();
    WAIT.printer(gw, "awaiting bed clear", |s| {
        matches!(s, PrinterState::AwaitingBedClear { .. })
    })
    .await;
}

pub async fn recover_when_connected(
    gw: &Gateway,
    id: JobId,
    options: RecoverOptions,
) -> Result<(Job, Recovery), CommandError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut watch = gw.printers()[0].watch();
    loop {
        match gw.recover(id, options).await {
            Err(e) if e.code() == "printer_unavailable" => {
                assert!(tokio::time::Instant::now() < deadline, "{e}");
                let _ = tokio::time::timeout(Duration::from_millis(100), watch.changed()).await;
            }
            done => return done,
        }
    }
}

pub async fn recv_event(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    ok: impl Fn(&EventKind) -> bool,
) -> EventKind {
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("no such event in time")
            .expect("the event feed ended");
        if ok(&event.kind) {
            return event.kind;
        }
    }
}

/// What the firmware must accept for a resumed print: the prologue, then every command of
/// the file from the layer's first line (comments and blanks stripped).
pub fn resumed_record(text: &str, plan: &Recovery) -> Vec<String> {
    let file = text
        .lines()
        .skip(plan.layer.line as usize)
        .map(|l| l.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty());
    plan.prologue.iter().cloned().chain(file).collect()
}

/// The plan resumes at a layer start of the file, never after the last confirmed line, with
/// the Z that layer prints at, and its prologue never homes Z.
pub fn check_plan(text: &str, plan: &Recovery) {
    let lines: Vec<&str> = text.lines().collect();
    let start = plan.layer.line as usize;
    assert_eq!(
        lines[start], ";LAYER_CHANGE",
        "line {start} is not a layer start"
    );
    let number = lines[..=start]
        .iter()
        .filter(|l| **l == ";LAYER_CHANGE")
        .count();
    assert_eq!(plan.layer.number as usize, number);
    assert!(plan.layer.line <= plan.confirmed_line, "{plan:?}");
    assert!(plan.layer.number <= plan.confirmed_layer, "{plan:?}");
    assert!(
        (plan.layer.z - 0.2 * f64::from(plan.layer.number)).abs() < 1e-6,
        "{plan:?}"
    );
    assert!(plan.prologue.iter().any(|l| l == "G28 X Y"));
    assert!(
        !plan
            .prologue
            .iter()
            .any(|l| l.starts_with("G28") && l != "G28 X Y")
    );
    let offset: usize = lines[..start].iter().map(|l| l.len() + 1).sum();
    assert_eq!(plan.layer.offset, offset as u64);
}
