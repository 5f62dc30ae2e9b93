//! The OctoPrint driver against a real OctoPrint (from PyPI, in `.venv`) driving its virtual
//! printer. One OctoPrint per test; the tests take turns (they share two cores).

use crate::common;

use std::time::Duration;

use common::octoprint::{API_KEY, OctoPrint, VirtualPrinter};
use common::stored::{assert_never_external, printer_states, progress_events};
use common::wait::Patience;
use common::*;
use fluxprint_gateway::config::{DriverConfig, PrinterConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterState};
use fluxprint_gateway::gateway::Gateway;
use fluxprint_gateway::printer::driver::{DriverCommand, DriverReport, Outcome};
use fluxprint_gateway::printer::octoprint::{self, OctoPrintSettings};
use fluxprint_gateway::printer::safety::Safety;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod bench;
mod external;
mod https;

use bench::Bench;

/// Jobs last seconds; a broken driver is caught well within this.
const JOB_PATIENCE: Duration = Duration::from_secs(90);
/// How long a test here waits for a job or the printer.
const WAIT: Patience = Patience::of(JOB_PATIENCE);

fn octo_printer(octo: &OctoPrint, key: &str) -> PrinterConfig {
    let mut p = printer("octo", [200.0, 200.0, 200.0], false);
    p.driver = DriverConfig::OctoPrint {
        url: octo.url(),
        api_key: Secret::new(key),
        delete_after_job: false,
        ca_file: None,
    };
    p
}

/// A job of `lines` dwells of `ms` each (the virtual printer sleeps through each `G4`).
fn dwell_gcode(lines: usize, ms: u32) -> String {
    let mut g = String::from("; fluxprint test job\nG90\n");
    for i in 0..lines {
        g.push_str(&format!("G4 P{ms} ; step {i}\n"));
    }
    g
}

#[tokio::test]
async fn a_queued_job_is_uploaded_printed_through_resends_and_completed_with_progress() {
    let bench = Bench::start(VirtualPrinter {
        resend_errors: true,
        ..VirtualPrinter::default()
    })
    .await;
    let octo = &bench.octo;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    let id = bench.submit(gw, "part", &dwell_gcode(300, 15)).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    let progress = progress_events(gw, id).await;
    assert!(
        progress.iter().any(|p| (1..100).contains(p)),
        "progress events during the print: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let (status, file) = octo
        .get(&format!("api/files/local/fluxprint/job-{}.gcode", id.0))
        .await
        .unwrap();
    assert_eq!(
        status, 200,
        "the job's file is in OctoPrint's fluxprint folder"
    );
    assert_eq!(file["prints"]["success"], 1);
    assert!(
        octo.log()
            .contains("User fluxprint logged in on the socket"),
        "the driver follows OctoPrint through its push channel"
    );
    WAIT.printer(gw, "awaiting bed clear", |s| {
        matches!(s, PrinterState::AwaitingBedClear { .. })
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn pause_resume_and_cancel_from_the_gateway_reach_octoprint() {
    let bench = Bench::start(VirtualPrinter::default()).await;
    let octo = &bench.octo;
    let mut printer = bench.printer();
    if let DriverConfig::OctoPrint {
        delete_after_job, ..
    } = &mut printer.driver
    {
        *delete_after_job = true;
    }
    let running = bench.gateway(printer).await;
    let gw = &running.gateway;
    let id = bench
        .submit_printing(gw, "long", &dwell_gcode(3000, 20))
        .await;

    gw.pause(id).await.unwrap();
    WAIT.job(gw, id, "paused", |s| matches!(s, JobStatus::Paused { .. }))
        .await;
    assert_eq!(octo.state().await, "Paused");

    gw.resume(id).await.unwrap();
    WAIT.job(gw, id, "printing again", |s| {
        matches!(s, JobStatus::Printing { .. })
    })
    .await;
    octo.wait_state("printing again", |s| s == "Printing").await;

    gw.cancel(id).await.unwrap();
    WAIT.job(gw, id, "cancelled", |s| *s == JobStatus::Cancelled)
        .await;
    octo.wait_state("operational", |s| s == "Operational").await;
    assert_never_external(gw, "the cancelling tail of our job is ours").await;
    // The ended job's upload is deleted (`delete_after_job`).
    let path = format!("api/files/local/fluxprint/job-{}.gcode", id.0);
    let deadline = tokio::time::Instant::now() + JOB_PATIENCE;
    while octo.get(&path).await.unwrap().0 != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job's file was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn octoprint_killed_mid_print_shows_disconnected_then_the_job_gets_its_real_outcome() {
    let mut bench = Bench::start(VirtualPrinter::default()).await;
    let running = bench.gateway(bench.printer()).await;
    let gw = &running.gateway;
    let id = bench
        .submit_printing(gw, "long", &dwell_gcode(3000, 20))
        .await;

    bench.octo.kill();
    WAIT.printer(gw, "disconnected", |s| {
        matches!(s, PrinterState::Disconnected { .. })
    })
    .await;
    let status = gw.job(id).await.unwrap().status;
    assert!(
        status.is_on_printer(),
        "the job is kept while OctoPrint is away: {status:?}"
    );

    bench.octo.restart().await;
    let status = WAIT.job(gw, id, "ended", JobStatus::is_final).await;
    let JobStatus::Interrupted { reason } = status else {
        panic!("the print died with OctoPrint; expected interrupted, got {status:?}");
    };
    assert!(reason.contains("no record"), "{reason}");
    WAIT.printer(gw, "awaiting bed clear", |s| {
        matches!(s, PrinterState::AwaitingBedClear { .. })
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn a_gateway_restarted_mid_print_re_attaches_and_the_job_completes() {
    let bench = Bench::start(VirtualPrinter::default()).await;
    let running = bench.gateway(bench.printer()).await;
    let id = bench
        .submit_printing(&running.gateway, "part", &dwell_gcode(400, 20))
        .await;
    running.stop().await;

    let running = bench.gateway(bench.printer()).await;
    let gw = &running.gateway;
    let status = gw.job(id).await.unwrap().status;
    assert!(
        status.is_on_printer(),
        "not interrupted by the restart: {status:?}"
    );
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_never_external(gw, "the re-attached job is ours").await;
    running.stop().await;
}

#[tokio::test]
async fn a_wrong_api_key_is_reported_once_and_not_retried_in_a_storm() {
    let bench = Bench::start(VirtualPrinter::default()).await;
    let octo = &bench.octo;
    let running = bench.gateway(octo_printer(octo, "not-the-key")).await;
    let gw = &running.gateway;
    let state = WAIT
        .printer(
            gw,
            "disconnected by 403",
            |s| matches!(s, PrinterState::Disconnected { reason } if reason.contains("403")),
        )
        .await;
    assert_eq!(
        state,
        PrinterState::Disconnected {
            reason: "OctoPrint rejected the API key (403)".into()
        }
    );
    // Give a storm the time of many OctoPrint round trips to show in its log.
    for _ in 0..20 {
        octo.get("api/version").await.unwrap();
    }
    let rejected = octo.log().lines().filter(|l| l.contains(" 403 ")).count();
    assert_eq!(
        rejected,
        1,
        "OctoPrint saw one rejected request:\n{}",
        octo.log()
    );
    running.stop().await;
}

#[tokio::test]
async fn a_start_octoprint_refuses_with_409_fails_the_job_with_octoprints_reason() {
    let bench = Bench::start(VirtualPrinter {
        autoconnect: false,
        ..VirtualPrinter::default()
    })
    .await;
    let mut settings = OctoPrintSettings::new(
        "octo",
        bench.octo.url(),
        Secret::new(API_KEY),
        Safety::from(&Default::default()),
    );
    settings.delete_after_job = true;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let mut link = octoprint::start(settings, shutdown.clone(), &tasks).unwrap();
    let first = next_report(&mut link).await;
    assert!(
        matches!(&first, DriverReport::Disconnected { reason } if reason.contains("not connected")),
        "{first:?}"
    );
    let file = bench.dir.path().join("part.gcode");
    std::fs::write(&file, dwell_gcode(5, 1)).unwrap();
    let job = JobId(41);
    link.commands
        .send(DriverCommand::Start {
            job,
            file,
            options: Default::default(),
        })
        .await
        .unwrap();
    let report = loop {
        match next_report(&mut link).await {
            DriverReport::Temperatures(_) => continue,
            other => break other,
        }
    };
    let DriverReport::Finished {
        job: ended,
        outcome: Outcome::Failed(reason),
    } = report
    else {
        panic!("expected the job to fail, got {report:?}");
    };
    assert_eq!(ended, job);
    assert!(reason.contains("409"), "{reason}");
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}

async fn next_report(link: &mut fluxprint_gateway::printer::driver::DriverLink) -> DriverReport {
    tokio::time::timeout(JOB_PATIENCE, link.reports.recv())
        .await
        .expect("the driver reported nothing")
        .expect("the driver stopped")
}
