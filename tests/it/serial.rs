//! The serial driver end to end: the real port thread, protocol session and streamer talking
//! to the built-in simulated Marlin firmware through a pseudo-terminal.

use crate::common;

mod faults;
mod stall;
mod virtual_printer;

use std::sync::Arc;
use std::time::Duration;

use common::sim::{SimDrivers, job_commands};
use common::wait::Patience;
use common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::config::{DriverConfig, FlowControlMode, PrinterConfig};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterId, PrinterState};
use fluxprint_gateway::gateway::Gateway;
use fluxprint_gateway::printer::sim::SimConfig;
use tokio_util::sync::CancellationToken;

/// Commands the gateway itself sends (handshake, firmware info, temperatures).
/// How long a test here waits for a job.
const WAIT: Patience = Patience::of(Duration::from_secs(60));

fn sim_printer(id: &str, sim: SimConfig, flow: FlowControlMode) -> PrinterConfig {
    let mut p = printer(id, [250.0, 210.0, 210.0], false);
    p.driver = DriverConfig::Simulated(sim);
    p.serial.flow_control = flow;
    p
}

fn fast_sim() -> SimConfig {
    SimConfig {
        speed_up: 1000.0,
        line_latency_ms: 0,
        ..SimConfig::default()
    }
}

/// A part made of many short segments (as a curved part is), with comments and blanks.
fn gcode(segments: usize) -> String {
    let mut g = String::from("; generated test part\nG28\nG90\nM83\n\n");
    for i in 0..segments {
        let a = i as f64 * 0.05;
        if i % 50 == 0 {
            g.push_str(&format!(";LAYER:{}\n", i / 50));
        }
        g.push_str(&format!(
            "G1 X{:.3} Y{:.3} E0.0123 F3000 ; seg {i}\n",
            100.0 + 20.0 * a.cos(),
            100.0 + 20.0 * a.sin()
        ));
    }
    g.push_str("M107\nM84\n");
    g
}

/// What the firmware must have received from the file: comments and blanks stripped.
fn expected(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

struct Rig {
    dir: tempfile::TempDir,
    running: app::Running,
    sims: SimDrivers,
}

async fn rig(printers: Vec<PrinterConfig>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let sims = SimDrivers::new(dir.path());
    let running = app::start(
        config(dir.path(), printers),
        Arc::new(sims.clone()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    Rig { dir, running, sims }
}

async fn submit_text(gw: &Gateway, dir: &std::path::Path, name: &str, text: &str) -> JobId {
    let mut new = job_with_file(gw, dir, name).await;
    std::fs::write(dir.join(format!("{name}.gcode")), text).unwrap();
    new.printer = None;
    gw.submit(new).await.unwrap().id
}

async fn prints_exactly_the_file(
    sim: SimConfig,
    flow: FlowControlMode,
    segments: usize,
) -> common::sim::SimDrivers {
    let r = rig(vec![sim_printer("sim", sim, flow)]).await;
    let gw = &r.running.gateway;
    let text = gcode(segments);
    let id = submit_text(gw, r.dir.path(), "part", &text).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_eq!(
        job_commands(r.sims.device("sim").accepted_commands()),
        expected(&text)
    );
    let sims = r.sims.clone();
    r.running.stop().await;
    sims
}

#[tokio::test]
async fn a_job_prints_to_completion_and_the_printer_got_every_line_in_order_windowed() {
    let sims = prints_exactly_the_file(fast_sim(), FlowControlMode::Windowed, 600).await;
    let stats = sims.stats("sim").snapshot();
    assert!(stats.windowed, "a clean run stays windowed");
    assert_eq!(stats.resend_requests, 0);
}

#[tokio::test]
async fn a_job_prints_to_completion_in_ping_pong_mode() {
    let sims = prints_exactly_the_file(fast_sim(), FlowControlMode::PingPong, 300).await;
    assert!(!sims.stats("sim").snapshot().windowed);
}

#[tokio::test]
async fn one_percent_checksum_errors_lose_and_repeat_nothing() {
    let sim = SimConfig {
        corrupt_every: Some(0.01),
        corrupt_seed: 42,
        ..fast_sim()
    };
    let sims = prints_exactly_the_file(sim, FlowControlMode::Windowed, 1500).await;
    let stats = sims.stats("sim").snapshot();
    assert!(stats.resend_requests >= 5, "{stats:?}");
    assert!(
        !stats.windowed && stats.fallbacks >= 1,
        "a resend falls back to ping-pong: {stats:?}"
    );
}

#[tokio::test]
async fn lines_lost_on_the_wire_are_recovered_from_line_number_errors() {
    // Windowed: the line after a lost one arrives out of sequence and Marlin asks for a resend.
    let sim = SimConfig {
        lose_lines: vec![40, 41],
        ..fast_sim()
    };
    let sims = prints_exactly_the_file(sim, FlowControlMode::Windowed, 400).await;
    let stats = sims.stats("sim").snapshot();
    assert!(
        stats.resend_requests >= 1 && stats.fallbacks >= 1,
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_line_lost_in_ping_pong_mode_is_sent_again_after_the_ok_timeout() {
    let sim = SimConfig {
        lose_lines: vec![100],
        ..fast_sim()
    };
    let mut p = sim_printer("sim", sim, FlowControlMode::PingPong);
    p.serial.ok_timeout_s = 1;
    let r = rig(vec![p]).await;
    let gw = &r.running.gateway;
    let text = gcode(200);
    let id = submit_text(gw, r.dir.path(), "lost", &text).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_eq!(
        job_commands(r.sims.device("sim").accepted_commands()),
        expected(&text)
    );
    assert!(r.sims.stats("sim").snapshot().timeouts >= 1);
    r.running.stop().await;
}

#[tokio::test]
async fn an_m600_filament_change_with_a_long_busy_wait_does_not_time_out() {
    let sim = SimConfig {
        filament_change_auto_resume_ms: Some(4_000),
        busy_interval_ms: 500,
        ..fast_sim()
    };
    let mut p = sim_printer("sim", sim, FlowControlMode::Windowed);
    p.serial.ok_timeout_s = 1;
    let r = rig(vec![p]).await;
    let gw = &r.running.gateway;
    let mut text = gcode(100);
    text.push_str("M600\nG1 X10 Y10 F3000\n");
    let id = submit_text(gw, r.dir.path(), "m600", &text).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_eq!(
        job_commands(r.sims.device("sim").accepted_commands()),
        expected(&text)
    );
    assert_eq!(
        r.sims.stats("sim").snapshot().timeouts,
        0,
        "busy: kept the M600 alive"
    );
    r.running.stop().await;
}

fn slow_sim() -> SimConfig {
    // Each 1 mm move at F600 takes 100 ms of simulated time; 20x speed-up keeps it to 5 ms.
    SimConfig {
        speed_up: 20.0,
        line_latency_ms: 1,
        ..SimConfig::default()
    }
}

fn slow_part(moves: usize) -> String {
    let mut g = String::from("G28\nG90\n");
    for i in 0..moves {
        g.push_str(&format!("G1 X{} Y10 F600\n", 10 + (i % 2)));
    }
    g
}

#[tokio::test]
async fn pause_and_resume_run_the_scripts_and_continue_at_the_exact_line() {
    let mut p = sim_printer("sim", slow_sim(), FlowControlMode::Windowed);
    p.serial.pause_script = vec!["M117 paused".into()];
    p.serial.resume_script = vec!["M117 resumed".into()];
    let r = rig(vec![p]).await;
    let gw = &r.running.gateway;
    let text = slow_part(600);
    let id = submit_text(gw, r.dir.path(), "pause", &text).await;
    WAIT.job(gw, id, "printing 5%", |s| s.progress().get() >= 5)
        .await;
    gw.pause(id).await.unwrap();
    WAIT.job(gw, id, "paused", |s| matches!(s, JobStatus::Paused { .. }))
        .await;
    gw.resume(id).await.unwrap();
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;

    let got = job_commands(r.sims.device("sim").accepted_commands());
    let at = got
        .iter()
        .position(|c| c == "M117 paused")
        .expect("pause script ran");
    assert_eq!(got[at + 1], "M117 resumed");
    let mut without_scripts = got.clone();
    without_scripts.drain(at..at + 2);
    assert_eq!(
        without_scripts,
        expected(&text),
        "no line skipped or repeated across the pause"
    );
    r.running.stop().await;
}

/// One slow simulated printer (windowed) printing an 800-move part `name`, past 5 %.
async fn printing_slow_part(name: &str) -> (Rig, JobId) {
    let printer = sim_printer("sim", slow_sim(), FlowControlMode::Windowed);
    let r = rig(vec![printer]).await;
    let gw = &r.running.gateway;
    let id = submit_text(gw, r.dir.path(), name, &slow_part(800)).await;
    WAIT.job(gw, id, "printing 5%", |s| s.progress().get() >= 5)
        .await;
    (r, id)
}

#[tokio::test]
async fn cancel_stops_feeding_and_runs_the_cancel_script() {
    let (r, id) = printing_slow_part("cancel").await;
    let gw = &r.running.gateway;
    let text = slow_part(800);
    gw.cancel(id).await.unwrap();
    WAIT.job(gw, id, "cancelled", |s| *s == JobStatus::Cancelled)
        .await;
    let got = job_commands(r.sims.device("sim").accepted_commands());
    let script = ["M104 S0", "M140 S0", "M107", "M84"];
    assert_eq!(&got[got.len() - 4..], script, "the cancel script ran last");
    let printed = &got[..got.len() - 4];
    assert!(printed.len() < expected(&text).len(), "feeding stopped");
    assert_eq!(printed, &expected(&text)[..printed.len()]);
    r.running.stop().await;
}

#[tokio::test]
async fn a_board_that_resets_on_open_is_waited_for_and_one_that_does_not_still_connects() {
    let avr = SimConfig {
        reset_on_open: true,
        boot_ms: 400,
        ..fast_sim()
    };
    let native_usb = SimConfig {
        reset_on_open: false,
        ..fast_sim()
    };
    let r = rig(vec![
        sim_printer("avr", avr, FlowControlMode::Windowed),
        sim_printer("usb", native_usb, FlowControlMode::Windowed),
    ])
    .await;
    let gw = &r.running.gateway;
    let mut ids = Vec::new();
    for (name, printer) in [("a", "avr"), ("b", "usb")] {
        let text = gcode(100);
        let mut new = job_with_file(gw, r.dir.path(), name).await;
        std::fs::write(r.dir.path().join(format!("{name}.gcode")), &text).unwrap();
        new.printer = Some(PrinterId(printer.into()));
        ids.push((gw.submit(new).await.unwrap().id, printer, text));
    }
    for (id, printer, text) in ids {
        WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
            .await;
        assert_eq!(
            job_commands(r.sims.device(printer).accepted_commands()),
            expected(&text)
        );
        let stats = r.sims.stats(printer).snapshot();
        assert_eq!(
            stats.resend_requests, 0,
            "{printer}: the handshake raced the boot: {stats:?}"
        );
    }
    r.running.stop().await;
}
