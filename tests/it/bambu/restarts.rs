//! Either side restarted mid-print: the gateway (it re-attaches to the print by its name and
//! follows it to its end) and the printer (its broker goes away; the print is lost with the
//! power, and the job ends `interrupted`); and a printer still booting when the gateway
//! connects (it is asked for its state again until it answers).

use super::*;

#[tokio::test]
async fn a_gateway_restarted_mid_print_re_attaches_and_the_job_completes() {
    let bench = Bench::start("01P00A000000021", Reports::Deltas);
    bench.firmware.with(|fw| fw.step = 2);
    let running = bench.idle_gateway().await;
    let id = bench.submit_printing(&running.gateway, "part").await;
    running.stop().await;

    let running = bench.gateway(bench.good_config()).await;
    let gw = &running.gateway;
    let status = gw.job(id).await.unwrap().status;
    assert!(status.is_on_printer(), "kept over the restart: {status:?}");
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_never_external(gw, "the re-attached job is ours").await;
    running.stop().await;
}

#[tokio::test]
async fn a_printer_still_booting_is_asked_for_its_state_again_until_it_answers() {
    let bench = Bench::start("01P00A000000024", Reports::Deltas);
    // A P1 that has just booted: silent, and the first `pushall` goes unanswered.
    bench.firmware.with(|fw| fw.booting = Some(1));
    let running = bench.idle_gateway().await;
    let pushalls = (bench.firmware.commands().into_iter())
        .filter(|c| c == "pushall")
        .count();
    assert_eq!(pushalls, 2, "asked again once, then answered");
    running.stop().await;
}

#[tokio::test]
async fn a_printer_restarted_mid_print_shows_unreachable_then_interrupts_the_job() {
    let mut bench = Bench::start("01S00C000000022", Reports::Full);
    bench.firmware.with(|fw| fw.step = 1);
    let running = bench.idle_gateway().await;
    let gw = &running.gateway;
    let id = bench.submit_printing(gw, "part").await;

    bench.printer.stop_broker();
    WAIT.printer(gw, "disconnected", |s| {
        matches!(s, PrinterState::Disconnected { .. })
    })
    .await;
    assert!(
        gw.job(id).await.unwrap().status.is_on_printer(),
        "the job stays while the printer is away"
    );
    // The printer comes back without its print (power cycled).
    bench.firmware.with(|fw| {
        fw.gcode_state = "IDLE";
        fw.percent = 0;
    });
    bench.printer.start_broker();
    let status = WAIT.job(gw, id, "ended", JobStatus::is_final).await;
    assert!(
        matches!(status, JobStatus::Interrupted { .. }),
        "{status:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_printer_restarted_as_it_takes_the_print_interrupts_the_job() {
    let mut bench = Bench::start("01S00C000000023", Reports::Full);
    bench.firmware.with(|fw| fw.step = 1);
    let running = bench.idle_gateway().await;
    let gw = &running.gateway;
    let id = bench.submit(gw, "part", &part("part")).await;
    // The power goes as the printer takes the print: its answer and first reports may
    // never reach the gateway.
    let subtask = format!("fluxprint-job-{}", id.0);
    (bench.firmware)
        .wait("the print taken", |fw| fw.subtask == subtask)
        .await;
    bench.printer.stop_broker();
    WAIT.printer(gw, "disconnected", |s| {
        matches!(s, PrinterState::Disconnected { .. })
    })
    .await;
    bench.firmware.with(|fw| {
        fw.gcode_state = "IDLE";
        fw.percent = 0;
    });
    bench.printer.start_broker();
    let status = WAIT.job(gw, id, "ended", JobStatus::is_final).await;
    assert!(
        matches!(status, JobStatus::Interrupted { .. }),
        "{status:?}"
    );
    running.stop().await;
}
