//! A print started through Moonraker's own API (as Mainsail or Fluidd do): the printer
//! shows it as external, the gateway's queue waits for it, and after it the bed-clear
//! interlock applies.

use super::*;

#[tokio::test]
async fn a_print_started_through_moonraker_is_external_and_holds_the_queue_until_it_ends_and_the_bed_is_cleared()
 {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    let printer = PrinterId("klipper".into());

    peer.print_file("benchy.gcode", &long_job()).await;
    let external = PrinterState::PrintingExternal {
        file: "benchy.gcode".into(),
    };
    WAIT.printer(gw, "printing the external file", |s| *s == external)
        .await;
    let mut watch = gw.printers()[0].watch();
    let with_progress = tokio::time::timeout(
        JOB_PATIENCE,
        watch.wait_for(|s| {
            s.external
                .as_ref()
                .is_some_and(|e| e.progress.is_some_and(|p| p.get() > 0))
        }),
    )
    .await
    .expect("the external print's progress is shown")
    .unwrap()
    .clone();
    assert_eq!(with_progress.external.unwrap().file, "benchy.gcode");
    assert!(
        gw.bed_cleared(&printer).await.is_err(),
        "the bed cannot be clear while someone else prints on it"
    );

    let id = bench.submit(gw, "part", &short_job()).await;
    assert!(matches!(
        gw.job(id).await.unwrap().status,
        JobStatus::Queued(_)
    ));
    assert_eq!(
        peer.print_stats().await,
        ("printing".into(), "benchy.gcode".into())
    );

    let (status, _) = peer.post("printer/print/cancel").await;
    assert_eq!(status, 200, "Moonraker cancels its own print");
    WAIT.printer(gw, "awaiting bed clear after the external print", |s| {
        *s == PrinterState::AwaitingBedClear { last_job: None }
    })
    .await;
    assert!(
        matches!(gw.job(id).await.unwrap().status, JobStatus::Queued(_)),
        "the job waits for the bed to be cleared"
    );
    let states = printer_states(gw).await;
    let at = states.iter().position(|s| *s == external);
    assert!(
        at.is_some_and(
            |at| states[at + 1..].contains(&PrinterState::AwaitingBedClear { last_job: None })
        ),
        "printer:state events: {states:?}"
    );

    gw.bed_cleared(&printer).await.unwrap();
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    running.stop().await;
}
