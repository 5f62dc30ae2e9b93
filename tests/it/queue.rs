//! The queue, the lifecycle and the bed-clear interlock, end to end through `app::start`
//! with drivers the tests control by hand.

use crate::common;

use std::sync::Arc;

use common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::domain::{JobId, JobStatus, Percent, PrinterId, PrinterState};
use fluxprint_gateway::gateway::{CommandError, Gateway};
use fluxprint_gateway::printer::PrinterStatus;
use fluxprint_gateway::printer::driver::{DriverCommand, DriverEnd, DriverReport, Outcome};
use tokio_util::sync::CancellationToken;

async fn start(
    dir: &std::path::Path,
    printers: Vec<fluxprint_gateway::config::PrinterConfig>,
) -> (app::Running, HandDrivers) {
    let drivers = HandDrivers::default();
    let running = app::start(
        config(dir, printers),
        Arc::new(drivers.clone()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (running, drivers)
}

/// Queues a job for a fresh file and returns its id.
async fn queue(gw: &Gateway, dir: &std::path::Path, name: &str) -> JobId {
    gw.submit(job_with_file(gw, dir, name).await)
        .await
        .unwrap()
        .id
}

async fn progress(end: &DriverEnd, job: JobId, percent: u8) {
    let progress = Percent::new(percent);
    report(end, DriverReport::Progress { job, progress }).await;
}

async fn finish(end: &DriverEnd, job: JobId, outcome: Outcome) {
    report(end, DriverReport::Finished { job, outcome }).await;
}

/// Waits until the gateway's first printer awaits a bed clear and returns that status.
async fn awaiting_bed_clear(gw: &Gateway) -> PrinterStatus {
    wait_status(gw.printers()[0].watch(), "awaiting bed clear", |s| {
        matches!(s.state, PrinterState::AwaitingBedClear { .. })
    })
    .await
}

#[tokio::test]
async fn jobs_print_in_order_and_each_waits_for_the_bed_to_be_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("mk3s", [250.0, 210.0, 210.0], false)],
    )
    .await;
    let gw = &running.gateway;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(queue(gw, dir.path(), name).await);
    }
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    assert_eq!(started_job(next_command(&mut end).await), ids[0]);
    progress(&end, ids[0], 40).await;
    finish(&end, ids[0], Outcome::Completed).await;

    let status = awaiting_bed_clear(gw).await;
    assert_eq!(
        status.state,
        PrinterState::AwaitingBedClear {
            last_job: Some(ids[0])
        }
    );
    assert_eq!(job(gw, ids[0]).await.status, JobStatus::Completed);
    assert!(
        end.commands.try_recv().is_err(),
        "the next job started before the bed was cleared"
    );

    gw.bed_cleared(&PrinterId("mk3s".into())).await.unwrap();
    assert_eq!(started_job(next_command(&mut end).await), ids[1]);
    running.stop().await;
}

#[tokio::test]
async fn an_auto_start_printer_starts_the_next_job_without_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("belt", [200.0, 200.0, 1000.0], true)],
    )
    .await;
    let gw = &running.gateway;
    let first = queue(gw, dir.path(), "one").await;
    let second = queue(gw, dir.path(), "two").await;
    let mut end = drivers.take("belt");
    report(&end, DriverReport::Connected).await;
    assert_eq!(started_job(next_command(&mut end).await), first);
    finish(&end, first, Outcome::Completed).await;
    assert_eq!(started_job(next_command(&mut end).await), second);
    running.stop().await;
}

#[tokio::test]
async fn an_unassigned_job_goes_to_the_first_idle_printer_it_fits() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![
            printer("mini", [180.0, 180.0, 180.0], false),
            printer("big", [400.0, 400.0, 400.0], false),
        ],
    )
    .await;
    let gw = &running.gateway;
    let mut mini = drivers.take("mini");
    let mut big = drivers.take("big");
    report(&mini, DriverReport::Connected).await;
    report(&big, DriverReport::Connected).await;
    for p in gw.printers() {
        wait_status(p.watch(), "idle", |s| s.state == PrinterState::Idle).await;
    }
    let mut large = job_with_file(gw, dir.path(), "large").await;
    large.model_size_mm = Some([300.0, 300.0, 100.0]);
    let large = gw.submit(large).await.unwrap();
    assert_eq!(large.printer, Some(PrinterId("big".into())));
    assert_eq!(started_job(next_command(&mut big).await), large.id);

    let small = gw
        .submit(job_with_file(gw, dir.path(), "small").await)
        .await
        .unwrap();
    assert_eq!(small.printer, Some(PrinterId("mini".into())));
    assert_eq!(started_job(next_command(&mut mini).await), small.id);

    let mut huge = job_with_file(gw, dir.path(), "huge").await;
    huge.model_size_mm = Some([500.0, 10.0, 10.0]);
    let err = gw.submit(huge).await.unwrap_err();
    assert!(matches!(err, CommandError::FitsNoPrinter { .. }), "{err}");
    assert_eq!(err.code(), "does_not_fit");
    running.stop().await;
}

#[tokio::test]
async fn cancel_removes_a_queued_job_and_asks_the_printer_for_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("mk4", [250.0, 210.0, 220.0], false)],
    )
    .await;
    let gw = &running.gateway;
    let running_job = queue(gw, dir.path(), "r").await;
    let queued_job = queue(gw, dir.path(), "q").await;
    let mut end = drivers.take("mk4");
    report(&end, DriverReport::Connected).await;
    assert_eq!(started_job(next_command(&mut end).await), running_job);

    assert_eq!(
        gw.cancel(queued_job).await.unwrap().status,
        JobStatus::Cancelled
    );
    gw.cancel(running_job).await.unwrap();
    assert_eq!(next_command(&mut end).await, DriverCommand::Cancel);
    finish(&end, running_job, Outcome::Cancelled).await;
    awaiting_bed_clear(gw).await;
    assert_eq!(job(gw, running_job).await.status, JobStatus::Cancelled);
    let again = gw.cancel(running_job).await.unwrap_err();
    assert_eq!(again.code(), "conflict", "{again}");
    running.stop().await;
}

#[tokio::test]
async fn pause_and_resume_go_through_the_driver_and_keep_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("mk4", [250.0, 210.0, 220.0], false)],
    )
    .await;
    let gw = &running.gateway;
    let id = queue(gw, dir.path(), "p").await;
    let mut end = drivers.take("mk4");
    report(&end, DriverReport::Connected).await;
    next_command(&mut end).await;
    progress(&end, id, 30).await;

    let resume_early = gw.resume(id).await.unwrap_err();
    assert_eq!(resume_early.code(), "conflict");
    gw.pause(id).await.unwrap();
    assert_eq!(next_command(&mut end).await, DriverCommand::Pause);
    report(&end, DriverReport::Paused { job: id }).await;
    wait_status(gw.printers()[0].watch(), "paused", |s| {
        s.state == PrinterState::Paused { job: id }
    })
    .await;
    assert_eq!(
        job(gw, id).await.status,
        JobStatus::Paused {
            progress: Percent::new(30)
        }
    );

    gw.resume(id).await.unwrap();
    assert_eq!(next_command(&mut end).await, DriverCommand::Resume);
    report(&end, DriverReport::Resumed { job: id }).await;
    wait_status(gw.printers()[0].watch(), "printing", |s| {
        s.state == PrinterState::Printing { job: id }
    })
    .await;
    assert_eq!(
        job(gw, id).await.status,
        JobStatus::Printing {
            progress: Percent::new(30)
        }
    );
    running.stop().await;
}

#[tokio::test]
async fn a_fault_fails_the_job_and_a_disconnect_interrupts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("mk3", [250.0, 210.0, 210.0], true)],
    )
    .await;
    let gw = &running.gateway;
    let first = queue(gw, dir.path(), "f").await;
    let second = queue(gw, dir.path(), "g").await;
    let mut end = drivers.take("mk3");
    report(&end, DriverReport::Connected).await;
    assert_eq!(started_job(next_command(&mut end).await), first);
    report(
        &end,
        DriverReport::Fault {
            message: "Thermal Runaway, system stopped! Heater_ID: 0".into(),
        },
    )
    .await;
    let status = wait_status(gw.printers()[0].watch(), "error", |s| {
        s.state.as_str() == "error"
    })
    .await;
    assert!(
        end.commands.try_recv().is_err(),
        "a job started on a printer in error"
    );
    assert!(matches!(status.state, PrinterState::Error { .. }));
    let failed = job(gw, first).await;
    assert_eq!(
        failed.status,
        JobStatus::Failed {
            error: "Thermal Runaway, system stopped! Heater_ID: 0".into()
        }
    );

    report(&end, DriverReport::Connected).await;
    assert_eq!(started_job(next_command(&mut end).await), second);
    report(
        &end,
        DriverReport::Disconnected {
            reason: "device unplugged".into(),
        },
    )
    .await;
    wait_status(gw.printers()[0].watch(), "disconnected", |s| {
        s.state.as_str() == "disconnected"
    })
    .await;
    assert_eq!(
        job(gw, second).await.status,
        JobStatus::Interrupted {
            reason: "device unplugged".into()
        }
    );
    running.stop().await;
}

#[tokio::test]
async fn moving_a_job_changes_which_prints_next() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("mk3s", [250.0, 210.0, 210.0], false)],
    )
    .await;
    let gw = &running.gateway;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let mut new = job_with_file(gw, dir.path(), name).await;
        new.printer = Some(PrinterId("mk3s".into()));
        ids.push(gw.submit(new).await.unwrap().id);
    }
    let order = gw.move_job(ids[2], 0).await.unwrap();
    assert_eq!(order, vec![ids[2], ids[0], ids[1]]);
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    assert_eq!(started_job(next_command(&mut end).await), ids[2]);
    let err = gw.move_job(ids[2], 1).await.unwrap_err();
    assert_eq!(
        err.code(),
        "conflict",
        "a printing job cannot be moved: {err}"
    );
    let missing = gw.move_job(JobId(999), 0).await.unwrap_err();
    assert_eq!(missing.code(), "job_not_found");
    running.stop().await;
}

#[tokio::test]
async fn every_state_change_is_an_event_with_a_contiguous_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (running, drivers) = start(
        dir.path(),
        vec![printer("mk3s", [250.0, 210.0, 210.0], false)],
    )
    .await;
    let gw = &running.gateway;
    let mut live = gw.subscribe();
    let id = queue(gw, dir.path(), "e").await;
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    next_command(&mut end).await;
    for p in [10, 20, 20, 30] {
        progress(&end, id, p).await;
    }
    finish(&end, id, Outcome::Completed).await;
    awaiting_bed_clear(gw).await;
    let stored = gw.events_after(0, 1000).await.unwrap();
    let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>());
    let statuses: Vec<(String, u8)> = stored
        .iter()
        .filter_map(|e| match &e.kind {
            fluxprint_gateway::events::EventKind::JobStatus(j) => {
                Some((j.status.as_str().to_owned(), j.status.progress().get()))
            }
            _ => None,
        })
        .collect();
    let expected = [
        ("printing", 0),
        ("printing", 10),
        ("printing", 20),
        ("printing", 30),
        ("completed", 100),
    ];
    assert_eq!(
        statuses,
        expected.map(|(s, p)| (s.to_owned(), p)).to_vec(),
        "a repeated progress is not news"
    );
    let mut fanned = Vec::new();
    while let Ok(e) = live.try_recv() {
        fanned.push(e);
    }
    assert_eq!(
        fanned.iter().map(|e| e.seq).collect::<Vec<_>>(),
        stored
            .iter()
            .map(|e| e.seq)
            .filter(|s| *s >= fanned[0].seq)
            .collect::<Vec<_>>()
    );
    running.stop().await;
}
