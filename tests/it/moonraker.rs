//! The Moonraker driver against a real Moonraker and Klipper (`klippy`, its MCU Klipper's
//! host simulator), started once for this test binary by `../shared/peers/klipper/
//! moonraker_peer.sh`. The tests share that printer and take turns on it.

use std::time::Duration;

use crate::common::moonraker::{Peer, moves_gcode};
use crate::common::stored::{assert_never_external, job_statuses, printer_states, progress_events};
use crate::common::wait::Patience;
use crate::common::*;
use fluxprint_gateway::config::{DriverConfig, PrinterConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterId, PrinterState};
use fluxprint_gateway::gateway::Gateway;
use tokio_util::sync::CancellationToken;

mod bench;
mod checksum;
mod external;
mod https;
mod restart;

use bench::*;

/// Jobs last seconds; a broken driver is caught well within this.
const JOB_PATIENCE: Duration = Duration::from_secs(120);
/// How long a test here waits for a job or the printer.
const WAIT: Patience = Patience::of(JOB_PATIENCE);

/// A print of 7-10 s on the simulated printer, heating included.
fn short_job() -> String {
    moves_gcode(300, 6000)
}

/// A print that outlasts any test (it is cancelled or stopped).
fn long_job() -> String {
    moves_gcode(6000, 3000)
}

#[tokio::test]
async fn a_queued_job_is_uploaded_printed_to_complete_with_progress_and_awaits_bed_clear() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    let id = bench.submit(gw, "part", &short_job()).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    let progress = progress_events(gw, id).await;
    assert!(
        progress.iter().filter(|p| (1..100).contains(*p)).count() >= 3,
        "progress events during the print: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let file = format!("fluxprint/job-{}.gcode", id.0);
    assert!(
        peer.gcodes.join(&file).is_file(),
        "the job's file is in Moonraker's gcodes/fluxprint"
    );
    assert_eq!(
        peer.history_status(&file).await.as_deref(),
        Some("completed")
    );
    let log = peer.log();
    let identified = log
        .lines()
        .any(|l| l.contains("Name: fluxprint-gateway/klipper") && l.contains("Type: agent"));
    assert!(
        identified,
        "the driver follows Moonraker through its websocket, identified as an agent"
    );
    WAIT.printer(gw, "awaiting bed clear", |s| {
        matches!(s, PrinterState::AwaitingBedClear { .. })
    })
    .await;
    gw.bed_cleared(&PrinterId("klipper".into())).await.unwrap();
    WAIT.printer(gw, "idle", |s| *s == PrinterState::Idle).await;
    running.stop().await;
}

#[tokio::test]
async fn pause_resume_and_cancel_from_the_gateway_reach_klipper_and_the_file_is_deleted() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let printer = moonraker_printer(peer, Some(&peer.api_key), true);
    let running = bench.idle_gateway(printer).await;
    let gw = &running.gateway;
    let id = bench.submit_printing(gw, "long", &long_job()).await;

    gw.pause(id).await.unwrap();
    WAIT.job(gw, id, "paused", |s| matches!(s, JobStatus::Paused { .. }))
        .await;
    assert_eq!(peer.print_stats().await.0, "paused");

    gw.resume(id).await.unwrap();
    WAIT.job(gw, id, "printing again", |s| {
        matches!(s, JobStatus::Printing { .. })
    })
    .await;
    assert_eq!(peer.print_stats().await.0, "printing");

    gw.cancel(id).await.unwrap();
    WAIT.job(gw, id, "cancelled", |s| *s == JobStatus::Cancelled)
        .await;
    assert_eq!(peer.print_stats().await.0, "cancelled");
    assert_never_external(gw, "our cancelled job is ours").await;
    // The ended job's upload is deleted (`delete_after_job`).
    let file = peer.gcodes.join(format!("fluxprint/job-{}.gcode", id.0));
    let deadline = tokio::time::Instant::now() + JOB_PATIENCE;
    while file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job's file was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn a_klippy_shutdown_mid_print_fails_the_job_with_klippys_message() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    let id = bench.submit_printing(gw, "long", &long_job()).await;

    peer.gcode("M112").await;
    let status = WAIT.job(gw, id, "failed", JobStatus::is_final).await;
    assert_eq!(
        status,
        JobStatus::Failed {
            error: "Klipper: Shutdown due to M112 command".into()
        }
    );
    let state = WAIT
        .printer(gw, "in error", |s| matches!(s, PrinterState::Error { .. }))
        .await;
    assert!(format!("{state:?}").contains("M112"), "{state:?}");

    peer.post("printer/firmware_restart").await;
    WAIT.printer(gw, "awaiting bed clear after the restart", |s| {
        *s == PrinterState::AwaitingBedClear { last_job: Some(id) }
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn the_gateways_emergency_stop_shuts_klipper_down_and_fails_the_job() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    let id = bench.submit_printing(gw, "long", &long_job()).await;

    gw.emergency_stop(&PrinterId("klipper".into()))
        .await
        .unwrap();
    let status = WAIT.job(gw, id, "failed", JobStatus::is_final).await;
    assert_eq!(
        status,
        JobStatus::Failed {
            error: "emergency stop".into()
        }
    );
    peer.wait_klippy("shutdown").await;
    WAIT.printer(gw, "in error", |s| matches!(s, PrinterState::Error { .. }))
        .await;
    running.stop().await;
}

#[tokio::test]
async fn a_job_breaking_the_safety_caps_fails_before_it_reaches_moonraker() {
    let bench = Bench::start().await;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    // Klipper's own way to set a heater, which Marlin's M104 check alone would not see.
    let text = "; too hot\nG28\nSET_HEATER_TEMPERATURE HEATER=extruder TARGET=900\nG1 X10 F3000\n";
    let id = bench.submit(gw, "hot", text).await;
    let status = WAIT.job(gw, id, "failed", JobStatus::is_final).await;
    let JobStatus::Failed { error } = status else {
        panic!("expected a refusal, got {status:?}");
    };
    assert!(error.starts_with("line 3:"), "{error}");
    assert!(error.contains("at most 285"), "{error}");
    // An earlier test's job of the same number may have left its file there.
    let file = bench
        .peer
        .gcodes
        .join(format!("fluxprint/job-{}.gcode", id.0));
    let uploaded = std::fs::read_to_string(file).is_ok_and(|t| t.contains("TARGET=900"));
    assert!(!uploaded, "the refused file never went to Moonraker");
    running.stop().await;
}

#[tokio::test]
async fn a_wrong_api_key_is_reported_once_and_not_retried_in_a_storm() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let rejected = || {
        peer.log()
            .lines()
            .filter(|l| l.contains("log_request()] - 401"))
            .count()
    };
    let before = rejected();
    let printer = moonraker_printer(peer, Some("not-the-key"), false);
    let running = bench.gateway(printer).await;
    let gw = &running.gateway;
    let state = WAIT
        .printer(
            gw,
            "disconnected by 401",
            |s| matches!(s, PrinterState::Disconnected { reason } if reason.contains("401")),
        )
        .await;
    assert_eq!(
        state,
        PrinterState::Disconnected {
            reason: "Moonraker rejected the API key (401)".into()
        }
    );
    // Give a storm the time of many Moonraker round trips to show in its log.
    for _ in 0..20 {
        peer.get("server/info").await;
    }
    assert_eq!(
        rejected() - before,
        1,
        "Moonraker saw one rejected request:\n{}",
        peer.log()
    );
    running.stop().await;
}
