//! Crash and power-cut recovery of serial prints, against the built-in simulated firmware
//! over a pty: the driver journals while a layered part prints; after an unplug or a
//! SIGKILL of the whole gateway (its simulated printer dies with it, as in a power cut of
//! Pi and printer) the interrupted job is recovered over REST, and the simulator's record
//! of the resumed print equals the prologue followed by the file from the layer start.
//! Refusals: the bed marked cleared, a printer whose driver does not journal, nothing
//! journaled.

use crate::common;

mod kill;
mod mqtt;
mod page;
mod support;

use common::*;
use fluxprint_gateway::domain::{JobStatus, PrinterId, PrinterState};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::printer::RecoverOptions;
use fluxprint_gateway::printer::driver::{DriverReport, Outcome};
use support::*;

#[tokio::test]
async fn an_unplugged_print_resumes_at_its_layer_with_the_prologue_then_the_file() {
    let r = rig().await;
    let gw = &r.running.gateway;
    let text = layered(LAYERS, MOVES);
    let id = submit(gw, r.dir.path(), "part", &text).await;
    WAIT.job(gw, id, "40 % printed", |s| s.progress().get() >= 40)
        .await;
    let device = r.sims.device("sim");
    unplug_until_interrupted_then_replug(gw, &device, id).await;
    let plan = gw
        .recovery_plan(id, RecoverOptions::default())
        .await
        .unwrap();
    check_plan(&text, &plan);
    let before = device.accepted_commands().len();
    let mut events = gw.subscribe();
    let (job, started) = recover_when_connected(gw, id, RecoverOptions::default())
        .await
        .unwrap();
    assert_eq!((job.id, job.status.as_str()), (id, "printing"));
    assert_eq!(started, plan);
    let recovered = recv_event(&mut events, |e| matches!(e, EventKind::JobRecovered { .. })).await;
    let EventKind::JobRecovered { job, from } = recovered else {
        unreachable!()
    };
    assert_eq!(
        (job.id, from.layer, from.line),
        (id, plan.layer.number, plan.layer.line)
    );
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    let record = job_commands(device.accepted_commands()[before..].to_vec());
    assert_eq!(record, resumed_record(&text, &plan));
    // The part is on the bed again: the interlock holds the next job back.
    WAIT.printer(
        gw,
        "awaiting bed clear",
        |s| matches!(s, PrinterState::AwaitingBedClear { last_job: Some(j) } if *j == id),
    )
    .await;
}

#[tokio::test]
async fn a_bed_marked_cleared_or_nothing_journaled_is_refused_and_nothing_prints() {
    let r = rig().await;
    let gw = &r.running.gateway;
    let device = r.sims.device("sim");

    // A file without layers never journals: there is no layer to resume at.
    let flat: String = (0..4000)
        .map(|i| format!("G1 X{} Y5 F3000\n", i % 90))
        .collect();
    let flat_id = submit(gw, r.dir.path(), "flat", &flat).await;
    WAIT.job(gw, flat_id, "20 % printed", |s| s.progress().get() >= 20)
        .await;
    device.unplug();
    WAIT.job(gw, flat_id, "interrupted", |s| {
        matches!(s, JobStatus::Interrupted { .. })
    })
    .await;
    let err = gw
        .recover(flat_id, RecoverOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "nothing_journaled", "{err}");
    device.replug().unwrap();
    WAIT.printer(gw, "awaiting bed clear", |s| {
        matches!(s, PrinterState::AwaitingBedClear { .. })
    })
    .await;
    gw.bed_cleared(&PrinterId("sim".into())).await.unwrap();

    let text = layered(LAYERS, MOVES);
    let id = submit(gw, r.dir.path(), "part", &text).await;
    WAIT.job(gw, id, "30 % printed", |s| s.progress().get() >= 30)
        .await;
    unplug_until_interrupted_then_replug(gw, &device, id).await;
    gw.bed_cleared(&PrinterId("sim".into())).await.unwrap();
    let before = device.accepted_commands().len();
    let err = recover_when_connected(gw, id, RecoverOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bed_cleared", "{err}");
    assert!(err.to_string().contains("marked cleared"), "{err}");
    let job = gw.job(id).await.unwrap();
    assert!(
        matches!(job.status, JobStatus::Interrupted { .. }),
        "{:?}",
        job.status
    );
    assert!(job_commands(device.accepted_commands()[before..].to_vec()).is_empty());
    // An earlier layer, found in the file: a layer start with the state the file sets there.
    let earlier = RecoverOptions {
        from_layer: Some(2),
        z_offset_mm: 0.1,
    };
    let plan = gw.recovery_plan(id, earlier).await.unwrap();
    check_plan(&text, &plan);
    assert_eq!(plan.layer.number, 2);
    assert!(
        plan.prologue.contains(&"M106 S170".to_owned()),
        "{:?}",
        plan.prologue
    );
    assert!(
        plan.prologue.contains(&"M109 S215".to_owned()),
        "{:?}",
        plan.prologue
    );
    let bad = RecoverOptions {
        from_layer: Some(LAYERS + 1),
        ..RecoverOptions::default()
    };
    assert_eq!(
        gw.recovery_plan(id, bad).await.unwrap_err().code(),
        "no_such_layer"
    );
}

#[tokio::test]
async fn a_job_on_a_printer_whose_driver_does_not_journal_is_not_recoverable() {
    let dir = tempfile::tempdir().unwrap();
    let drivers = HandDrivers::default();
    let running = fluxprint_gateway::app::start(
        config(
            dir.path(),
            vec![printer("mk3s", [250.0, 210.0, 210.0], true)],
        ),
        std::sync::Arc::new(drivers.clone()),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let gw = &running.gateway;
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    let mut new = job_with_file(gw, dir.path(), "part").await;
    new.printer = Some(PrinterId("mk3s".into()));
    let id = gw.submit(new).await.unwrap().id;
    let started = started_job(next_command(&mut end).await);
    assert_eq!(started, id);
    let outcome = Outcome::Interrupted("unplugged".into());
    report(&end, DriverReport::Finished { job: id, outcome }).await;
    WAIT.job(gw, id, "interrupted", |s| {
        matches!(s, JobStatus::Interrupted { .. })
    })
    .await;
    let err = gw.recover(id, RecoverOptions::default()).await.unwrap_err();
    assert_eq!(err.code(), "not_recoverable", "{err}");
}
