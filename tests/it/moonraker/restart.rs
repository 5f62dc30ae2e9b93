//! Either side restarted mid-print: Moonraker (Klippy prints on meanwhile) and the gateway.
//! The job is kept, followed again, and ends as Klipper says, never `interrupted`.

use super::*;

/// A print of about 20 s: long enough for a restart in its middle, short enough to wait for.
fn medium_job() -> String {
    moves_gcode(1000, 3000)
}

#[tokio::test]
async fn moonraker_restarted_mid_print_shows_disconnected_and_the_job_completes() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let running = bench.idle_gateway(bench.printer()).await;
    let gw = &running.gateway;
    let id = bench.submit_printing(gw, "part", &medium_job()).await;

    peer.restart_moonraker().await;
    let status = WAIT.job(gw, id, "ended", JobStatus::is_final).await;
    assert_eq!(status, JobStatus::Completed);
    let states = printer_states(gw).await;
    assert!(
        states
            .iter()
            .any(|s| matches!(s, PrinterState::Disconnected { .. })),
        "Moonraker's absence was shown: {states:?}"
    );
    assert!(
        !job_statuses(gw, id)
            .await
            .iter()
            .any(|s| matches!(s, JobStatus::Interrupted { .. })),
        "the job was kept while Moonraker was away"
    );
    assert_never_external(gw, "the job followed again is ours").await;
    running.stop().await;
}

#[tokio::test]
async fn a_gateway_restarted_mid_print_re_attaches_and_the_job_completes() {
    let bench = Bench::start().await;
    let running = bench.idle_gateway(bench.printer()).await;
    let id = bench
        .submit_printing(&running.gateway, "part", &medium_job())
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
async fn a_job_that_ended_while_the_gateway_was_away_gets_its_outcome_from_moonrakers_history() {
    let bench = Bench::start().await;
    let peer = bench.peer;
    let running = bench.idle_gateway(bench.printer()).await;
    let id = bench
        .submit_printing(&running.gateway, "part", &long_job())
        .await;
    running.stop().await;
    // While the gateway is away: the print is cancelled and another one replaces it in
    // `print_stats`, so only the history knows how the job ended.
    peer.post("printer/print/cancel").await;
    peer.wait_print("cancelled", |s| s == "cancelled").await;
    peer.print_file("other.gcode", "G28\n").await;
    peer.wait_print("the other print done", |s| s == "complete")
        .await;

    let running = bench.gateway(bench.printer()).await;
    let gw = &running.gateway;
    let status = WAIT.job(gw, id, "ended", JobStatus::is_final).await;
    assert_eq!(status, JobStatus::Cancelled);
    running.stop().await;
}
