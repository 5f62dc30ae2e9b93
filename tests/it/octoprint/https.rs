//! OctoPrint behind `https://` with a CA of its own (as on OctoPi): the driver trusts the
//! printer's `ca_file` for REST and for the push websocket (`wss://`), and refuses a server
//! its CAs do not vouch for.

use super::*;
use common::tls_proxy::TlsProxy;

fn https_printer(octo: &OctoPrint, proxy: &TlsProxy, ca_file: &std::path::Path) -> PrinterConfig {
    let mut p = octo_printer(octo, API_KEY);
    p.driver = DriverConfig::OctoPrint {
        url: proxy.url.clone(),
        api_key: Secret::new(API_KEY),
        delete_after_job: false,
        ca_file: Some(ca_file.to_owned()),
    };
    p
}

async fn proxy_for(octo: &OctoPrint) -> TlsProxy {
    let port = octo.url().port().expect("OctoPrint's URL has its port");
    TlsProxy::start(([127, 0, 0, 1], port).into()).await
}

#[tokio::test]
async fn an_https_octoprint_with_its_own_ca_is_followed_over_a_wss_push_channel() {
    let bench = Bench::start(VirtualPrinter::default()).await;
    let octo = &bench.octo;
    let proxy = proxy_for(octo).await;
    let printer = https_printer(octo, &proxy, &proxy.ca_file);
    let running = bench.idle_gateway(printer).await;
    let gw = &running.gateway;
    let id = bench.submit(gw, "part", &dwell_gcode(300, 15)).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    let progress = progress_events(gw, id).await;
    assert!(
        progress.iter().any(|p| (1..100).contains(p)),
        "progress events during the print: {progress:?}"
    );
    let lines = proxy.first_lines();
    assert!(
        lines.iter().any(|l| l == "GET /sockjs/websocket HTTP/1.1"),
        "the push channel went through TLS: {lines:?}"
    );
    assert!(
        octo.log()
            .contains("User fluxprint logged in on the socket"),
        "the push channel is in use, not the polling fallback"
    );
    running.stop().await;
}

#[tokio::test]
async fn an_https_octoprint_whose_certificate_no_trusted_ca_signed_is_refused_with_the_reason() {
    let bench = Bench::start(VirtualPrinter::default()).await;
    let octo = &bench.octo;
    let proxy = proxy_for(octo).await;
    let printer = https_printer(octo, &proxy, &proxy.stranger_ca_file);
    let running = bench.gateway(printer).await;
    let gw = &running.gateway;
    let state = WAIT.printer(
        gw,
        "disconnected by the certificate",
        |s| matches!(s, PrinterState::Disconnected { reason } if reason.contains("certificate")),
    )
    .await;
    let PrinterState::Disconnected { reason } = state else {
        unreachable!("waited for disconnected");
    };
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    assert!(
        proxy.first_lines().is_empty(),
        "no request crossed the refused TLS handshake"
    );
    assert!(!octo.log().contains("logged in on the socket"));
    running.stop().await;
}
