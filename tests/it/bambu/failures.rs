//! What goes wrong with a Bambu printer: a wrong access code, a certificate from another CA
//! or for another printer, a firmware that refuses LAN control (monitor-only), a print that
//! fails with an HMS error.

use super::*;
use crate::common::bambu::Fw;

/// The printer's state once it is disconnected, with the reason.
async fn disconnected(bench: &Bench, printer: PrinterConfig) -> String {
    let running = bench.gateway(printer).await;
    let state = WAIT
        .printer(
            &running.gateway,
            "disconnected with a reason",
            |s| matches!(s, PrinterState::Disconnected { reason } if reason.contains("printer")),
        )
        .await;
    // Never connected: the firmware never got a request from the gateway.
    assert!(
        bench.firmware.commands().is_empty(),
        "{:?}",
        bench.firmware.commands()
    );
    running.stop().await;
    match state {
        PrinterState::Disconnected { reason } => reason,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_access_code_is_reported_and_never_logged() {
    let bench = Bench::start("01P00A000000011", Reports::Deltas);
    let wrong = bench.config(&bench.printer.ca, "87654321", false);
    let reason = disconnected(&bench, wrong).await;
    assert!(reason.contains("access code"), "{reason}");
    assert!(!reason.contains("87654321"), "{reason}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let bench = Bench::start("01P00A000000012", Reports::Deltas);
    let stranger = bench.config(&bench.printer.stranger_ca, ACCESS_CODE, false);
    let reason = disconnected(&bench, stranger).await;
    assert!(reason.contains("UnknownIssuer"), "{reason}");
}

#[tokio::test]
async fn a_certificate_for_another_printer_is_refused() {
    let bench = Bench::start("01P00A000000013", Reports::Deltas);
    let mut other = bench.good_config();
    if let DriverConfig::Bambu { serial, .. } = &mut other.driver {
        *serial = "01P00A999999999".into();
    }
    let reason = disconnected(&bench, other).await;
    assert!(
        reason.contains("01P00A999999999") && reason.contains("01P00A000000013"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_printer_refusing_lan_control_is_monitor_only_and_not_asked_again() {
    let bench = Bench::start("01P00A000000014", Reports::Deltas);
    bench.firmware.with(|fw| fw.refuse_control = true);
    let running = bench.idle_gateway().await;
    let gw = &running.gateway;
    let first = bench.submit(gw, "refused", &part("refused")).await;
    let status = WAIT.job(gw, first, "failed", JobStatus::is_final).await;
    assert!(
        matches!(&status, JobStatus::Failed { error } if error.contains("developer mode")),
        "{status:?}"
    );
    let state = WAIT
        .printer(gw, "monitor-only", |s| {
            matches!(s, PrinterState::MonitorOnly { .. })
        })
        .await;
    assert!(format!("{state:?}").contains("verify failed"), "{state:?}");

    // It still shows what the printer does.
    bench
        .firmware
        .change(|fw| fw.print("Cube", "cube.gcode.3mf"));
    WAIT.printer(gw, "printing external", |s| {
        matches!(s, PrinterState::PrintingExternal { .. })
    })
    .await;
    bench.firmware.with(|fw| {
        fw.gcode_state = "FINISH";
        fw.percent = 100;
    });
    WAIT.printer(gw, "monitor-only again", |s| {
        matches!(s, PrinterState::MonitorOnly { .. })
    })
    .await;
    // A second job is not sent to be refused: it waits in the queue.
    let second = bench.submit(gw, "waits", &part("waits")).await;
    bench.firmware.with(|fw| fw.step = 50);
    let starts = |fw: &Fw| {
        (fw.requests.iter())
            .filter(|r| r["print"]["command"] == "gcode_file")
            .count()
    };
    assert_eq!(bench.firmware.with(|fw| starts(fw)), 1);
    assert!(matches!(
        gw.job(second).await.unwrap().status,
        JobStatus::Queued(_)
    ));
    running.stop().await;
}

#[tokio::test]
async fn a_print_failing_with_an_hms_error_fails_the_job_with_its_meaning() {
    let bench = Bench::start("01S00C000000015", Reports::Full);
    bench.firmware.with(|fw| fw.step = 1);
    let running = bench.idle_gateway().await;
    let gw = &running.gateway;
    let id = bench.submit_printing(gw, "runout").await;
    bench
        .firmware
        .with(|fw| fw.fail(0x0700_8012, (0x0700_2000, 0x0002_0001)));
    let status = WAIT.job(gw, id, "failed", JobStatus::is_final).await;
    let JobStatus::Failed { error } = status else {
        panic!("{status:?}");
    };
    assert!(error.contains("filament ran out"), "{error}");
    assert!(error.contains("HMS_0700_2000_0002_0001"), "{error}");
    running.stop().await;
}
