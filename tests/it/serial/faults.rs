//! Faults mid-print: a temperature over the cap, a thermal runaway, an unplugged cable and
//! the emergency stop.

use super::*;

#[tokio::test]
async fn a_temperature_above_the_cap_is_refused_and_fails_the_job() {
    let mut p = sim_printer("sim", fast_sim(), FlowControlMode::Windowed);
    p.safety.max_hotend_c = 250.0;
    let r = rig(vec![p]).await;
    let gw = &r.running.gateway;
    let text = format!("{}M104 S300\n{}", gcode(20), gcode(20));
    let id = submit_text(gw, r.dir.path(), "hot", &text).await;
    let status = WAIT
        .job(gw, id, "failed", |s| matches!(s, JobStatus::Failed { .. }))
        .await;
    let error = status.error().unwrap();
    assert!(error.contains("300") && error.contains("250"), "{error}");
    let got = r.sims.device("sim").accepted_commands();
    assert!(
        !got.iter().any(|c| c == "M104 S300"),
        "the refused line reached the printer"
    );
    assert_eq!(
        got.last().map(String::as_str),
        Some("M84"),
        "the cancel script turned things off"
    );
    r.running.stop().await;
}

#[tokio::test]
async fn a_thermal_runaway_mid_print_fails_the_job_and_puts_the_printer_in_error() {
    let sim = SimConfig {
        thermal_runaway_at_line: Some(60),
        ..slow_sim()
    };
    let r = rig(vec![sim_printer("sim", sim, FlowControlMode::Windowed)]).await;
    let gw = &r.running.gateway;
    let id = submit_text(gw, r.dir.path(), "runaway", &slow_part(300)).await;
    let status = WAIT
        .job(gw, id, "failed", |s| matches!(s, JobStatus::Failed { .. }))
        .await;
    assert!(
        status.error().unwrap().contains("Thermal Runaway"),
        "{status:?}"
    );
    let printer = wait_status(gw.printers()[0].watch(), "error", |s| {
        s.state.as_str() == "error"
    })
    .await;
    assert!(matches!(printer.state, PrinterState::Error { .. }));
    r.running.stop().await;
}

#[tokio::test]
async fn unplugging_mid_print_interrupts_the_job_and_replugging_reconnects() {
    let (r, first) = printing_slow_part("first").await;
    let gw = &r.running.gateway;
    let device = r.sims.device("sim");
    device.unplug();
    let status = WAIT
        .job(gw, first, "interrupted", |s| {
            matches!(s, JobStatus::Interrupted { .. })
        })
        .await;
    assert!(
        status.error().unwrap().contains("serial"),
        "the cause is given: {status:?}"
    );
    wait_status(gw.printers()[0].watch(), "disconnected", |s| {
        s.state.as_str() == "disconnected"
    })
    .await;

    let second = submit_text(gw, r.dir.path(), "second", &gcode(50)).await;
    device.replug().unwrap();
    wait_status(gw.printers()[0].watch(), "awaiting bed clear", |s| {
        matches!(s.state, PrinterState::AwaitingBedClear { .. })
    })
    .await;
    gw.bed_cleared(&PrinterId("sim".into())).await.unwrap();
    WAIT.job(gw, second, "completed", |s| *s == JobStatus::Completed)
        .await;
    r.running.stop().await;
}

#[tokio::test]
async fn an_emergency_stop_kills_the_printer_at_once() {
    let (r, id) = printing_slow_part("estop").await;
    let gw = &r.running.gateway;
    gw.emergency_stop(&PrinterId("sim".into())).await.unwrap();
    let status = WAIT
        .job(gw, id, "failed", |s| matches!(s, JobStatus::Failed { .. }))
        .await;
    assert_eq!(status.error(), Some("emergency stop"));
    let device = r.sims.device("sim");
    wait_status(gw.printers()[0].watch(), "error", |s| {
        s.state.as_str() == "error"
    })
    .await;
    assert!(device.is_killed());
    r.running.stop().await;
}
