//! Moonraker behind `https://` with a CA of its own: the driver trusts the printer's
//! `ca_file` for HTTP and for the websocket (`wss://`); where the websocket cannot be used
//! (a proxy refusing upgrades) it polls `/printer/objects/query` over HTTPS instead.

use super::*;
use crate::common::tls_proxy::TlsProxy;

fn https_printer(peer: &Peer, proxy: &TlsProxy) -> PrinterConfig {
    let mut p = moonraker_printer(peer, Some(&peer.api_key), false);
    p.driver = DriverConfig::Moonraker {
        url: proxy.url.clone(),
        api_key: Some(Secret::new(&peer.api_key)),
        delete_after_job: false,
        ca_file: Some(proxy.ca_file.clone()),
    };
    p
}

fn upstream(peer: &Peer) -> std::net::SocketAddr {
    ([127, 0, 0, 1], peer.port).into()
}

/// The job prints to its end with progress on the way.
async fn prints_to_complete(bench: &Bench, gw: &Gateway) {
    let id = bench.submit(gw, "part", &short_job()).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    let progress = progress_events(gw, id).await;
    assert!(
        progress.iter().any(|p| (1..100).contains(p)),
        "progress events during the print: {progress:?}"
    );
}

#[tokio::test]
async fn an_https_moonraker_with_its_own_ca_is_followed_over_a_wss_websocket() {
    let bench = Bench::start().await;
    let proxy = TlsProxy::start(upstream(bench.peer)).await;
    let running = bench.idle_gateway(https_printer(bench.peer, &proxy)).await;
    prints_to_complete(&bench, &running.gateway).await;
    let lines = proxy.first_lines();
    assert!(
        lines.iter().any(|l| l == "GET /websocket HTTP/1.1"),
        "the websocket went through TLS: {lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("GET /printer/objects/query")),
        "no polling while the websocket works: {lines:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn without_its_websocket_moonraker_is_polled_and_the_job_still_completes() {
    let bench = Bench::start().await;
    let proxy = TlsProxy::without_websockets(upstream(bench.peer)).await;
    let running = bench.idle_gateway(https_printer(bench.peer, &proxy)).await;
    // Progress and the end came from polling: the websocket never opened.
    prints_to_complete(&bench, &running.gateway).await;
    let lines = proxy.first_lines();
    assert!(
        lines.iter().any(|l| l == "GET /websocket HTTP/1.1"),
        "the websocket was tried: {lines:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_moonraker_whose_certificate_the_printers_cas_do_not_vouch_for_is_refused() {
    let bench = Bench::start().await;
    let proxy = TlsProxy::start(upstream(bench.peer)).await;
    let mut printer = https_printer(bench.peer, &proxy);
    if let DriverConfig::Moonraker { ca_file, .. } = &mut printer.driver {
        *ca_file = Some(proxy.stranger_ca_file.clone());
    }
    let running = bench.gateway(printer).await;
    let state = WAIT.printer(
        &running.gateway,
        "disconnected by TLS",
        |s| matches!(s, PrinterState::Disconnected { reason } if reason.contains("certificate")),
    )
    .await;
    assert!(format!("{state:?}").contains("UnknownIssuer"), "{state:?}");
    running.stop().await;
}
