//! Moonraker driver benchmark, against the real Klipper + Moonraker test peer
//! (`../shared/peers/klipper/moonraker_peer.sh`, installed as for `tests/it/moonraker.rs`):
//!
//! - latency from a state change made directly on Klipper (pause and resume through
//!   Moonraker's API, as someone at Mainsail would) to the gateway's stored event for it,
//!   p50/p99 over 30 pauses and 30 resumes;
//! - upload throughput of a 50 MB G-code file: from `Start` to Klipper printing it (the
//!   safety check and SHA-256 in one pass, the upload, Moonraker's verification, the start),
//!   next to the same file posted by a bare HTTP client (Moonraker's own receiving speed);
//! - the gateway's extra resident memory per Moonraker printer (8 printers on one Moonraker).
//!
//!     cargo bench --bench moonraker

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "common/gateway.rs"]
mod gateway;
#[path = "common/stats.rs"]
mod stats;

use std::path::Path;
use std::time::{Duration, Instant};

use common::moonraker::{Peer, moves_gcode};
use common::wait::Patience;
use fluxprint_gateway::config::{DriverConfig, PrinterConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterState};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::gateway::Gateway;
use fluxprint_gateway::printer::driver::{DriverCommand, DriverReport};
use fluxprint_gateway::printer::moonraker::{self, KlipperSafety, MoonrakerSettings};
use futures_util::StreamExt;
use gateway::{resident_with, start};
use stats::percentiles_ms;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const REPETITIONS: usize = 30;
const MEMORY_PRINTERS: usize = 8;
const UPLOAD_BYTES: usize = 50 * 1000 * 1000;
const PATIENCE: Duration = Duration::from_secs(120);
const WAIT: Patience = Patience::of(PATIENCE);

fn klipper(id: &str, peer: &Peer) -> PrinterConfig {
    let mut p = common::printer(id, [250.0, 210.0, 200.0], true);
    p.driver = DriverConfig::Moonraker {
        url: peer.url.clone(),
        api_key: Some(Secret::new(&peer.api_key)),
        delete_after_job: false,
        ca_file: None,
    };
    p
}

async fn latency(peer: &Peer) {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), vec![klipper("klipper", peer)]).await;
    let gw = &running.gateway;
    WAIT.printer(gw, "idle", |s| *s == PrinterState::Idle).await;
    let new = common::job_with_file(gw, dir.path(), "long").await;
    std::fs::write(dir.path().join("long.gcode"), moves_gcode(20_000, 1500)).unwrap();
    let job = gw.submit(new).await.unwrap().id;
    WAIT.printer(gw, "printing", |s| {
        matches!(s, PrinterState::Printing { .. })
    })
    .await;
    peer.wait_print("printing", |s| s == "printing").await;
    // Past the heating: a pause waits for a running M109 to end, which is Klipper's time.
    while progress(peer).await < 0.001 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut pauses, mut resumes) = (Vec::new(), Vec::new());
    for _ in 0..REPETITIONS {
        pauses.push(change(peer, gw, job, "pause", "paused").await);
        resumes.push(change(peer, gw, job, "resume", "printing").await);
    }
    for (name, samples) in [("pause", pauses), ("resume", resumes)] {
        let (total, lag): (Vec<_>, Vec<_>) = samples.into_iter().unzip();
        let (t50, t99, _) = percentiles_ms(&total);
        let (l50, l99, _) = percentiles_ms(&lag);
        println!(
            "Klipper {name}: request -> gateway event p50 {t50:.1} ms, p99 {t99:.1} ms; \
             Moonraker's query showing it -> gateway event p50 {l50:.1} ms, p99 {l99:.1} ms \
             ({} runs)",
            total.len()
        );
    }
    peer.post("printer/print/cancel").await;
    running.stop().await;
}

async fn progress(peer: &Peer) -> f64 {
    let (_, body) = peer
        .get("printer/objects/query?virtual_sdcard=progress")
        .await;
    body["result"]["status"]["virtual_sdcard"]["progress"]
        .as_f64()
        .unwrap_or(0.0)
}

/// Pauses or resumes through Moonraker's API; returns the time from the request to the
/// gateway's stored event for the job, and from Moonraker's query showing the new state
/// (polled every 5 ms) to that event (zero when the gateway was first).
async fn change(
    peer: &Peer,
    gw: &Gateway,
    job: JobId,
    action: &str,
    klipper_state: &str,
) -> (Duration, Duration) {
    let paused = klipper_state == "paused";
    let mut events = gw.subscribe();
    let begun = Instant::now();
    let (status, _) = peer.post(&format!("printer/print/{action}")).await;
    assert_eq!(status, 200, "{action}");
    let gateway = async {
        loop {
            let event = tokio::time::timeout(PATIENCE, events.recv())
                .await
                .expect("the gateway saw the change")
                .expect("events flow");
            if let EventKind::JobStatus(j) = event.kind
                && j.id == job
                && matches!(j.status, JobStatus::Paused { .. }) == paused
            {
                return Instant::now();
            }
        }
    };
    let klipper = async {
        while peer.print_stats().await.0 != klipper_state {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Instant::now()
    };
    let (gateway_at, klipper_at) = tokio::join!(gateway, klipper);
    (
        gateway_at - begun,
        gateway_at.saturating_duration_since(klipper_at),
    )
}

/// A G-code file of `bytes` bytes: heating to nothing, then 1 mm moves at a slow feed.
fn big_gcode(path: &Path, bytes: usize) {
    let mut text = moves_gcode(0, 1500);
    let mut i = 0usize;
    while text.len() < bytes {
        let a = i as f64 / 40.0;
        let line = format!(
            "G1 X{:.3} Y{:.3} E0.05 F1500 ; move {i}\n",
            100.0 + 40.0 * a.cos(),
            100.0 + 40.0 * a.sin()
        );
        text.push_str(&line);
        i += 1;
    }
    std::fs::write(path, text).unwrap();
}

async fn upload(peer: &Peer) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.gcode");
    big_gcode(&file, UPLOAD_BYTES);
    let size = std::fs::metadata(&file).unwrap().len();
    let mb = size as f64 / 1e6;
    let bare = bare_upload(peer, &file).await;
    let settings = MoonrakerSettings::new(
        "klipper",
        peer.url.clone(),
        Some(Secret::new(&peer.api_key)),
        KlipperSafety::from(&Default::default()),
    );
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let link = moonraker::start(settings, shutdown.clone(), &tasks).unwrap();
    let (commands, mut reports) = (link.commands, link.reports);
    loop {
        match reports.recv().await {
            Some(DriverReport::Connected) => break,
            Some(_) => {}
            None => panic!("the driver stopped"),
        }
    }
    // Read on as the actor would: a driver whose reports pile up unread waits for room.
    tokio::spawn(async move { while reports.recv().await.is_some() {} });
    let begun = Instant::now();
    let command = DriverCommand::Start {
        job: JobId(900_001),
        file,
        options: Default::default(),
    };
    commands.send(command).await.unwrap();
    while peer.print_stats().await != ("printing".into(), "fluxprint/job-900001.gcode".into()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let driver = begun.elapsed();
    println!(
        "upload of {mb:.1} MB: Start -> Klipper printing it {:.2} s = {:.1} MB/s (check, \
         SHA-256, upload, Moonraker's checksum, start); the same file posted by a bare HTTP \
         client {:.2} s = {:.1} MB/s",
        driver.as_secs_f64(),
        mb / driver.as_secs_f64(),
        bare.as_secs_f64(),
        mb / bare.as_secs_f64(),
    );
    commands.send(DriverCommand::Cancel).await.unwrap();
    peer.wait_print("cancelled", |s| s == "cancelled").await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}

/// The file posted to Moonraker's upload route by reqwest alone, streamed.
async fn bare_upload(peer: &Peer, file: &Path) -> Duration {
    let size = std::fs::metadata(file).unwrap().len();
    let boundary = "fluxprint-bench-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"bare.gcode\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() as u64 + size + tail.len() as u64;
    let opened = tokio::fs::File::open(file).await.unwrap();
    let body = futures_util::stream::once(async move { Ok(bytes::Bytes::from(head)) })
        .chain(tokio_util::io::ReaderStream::new(opened))
        .chain(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(tail))
        }));
    let begun = Instant::now();
    let response = reqwest::Client::new()
        .post(peer.url.join("server/files/upload").unwrap())
        .header("X-Api-Key", &peer.api_key)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("Content-Length", length)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    begun.elapsed()
}

async fn memory(peer: &Peer) {
    let printers = (0..MEMORY_PRINTERS)
        .map(|i| klipper(&format!("klipper{i}"), peer))
        .collect();
    // A few seconds of status updates (temperatures) through every printer.
    let (baseline, connected) = resident_with(printers, PATIENCE, Duration::from_secs(5)).await;
    println!(
        "RSS: {baseline} KiB before, {connected} KiB with {MEMORY_PRINTERS} Moonraker printers \
         connected: about {} KiB per printer (includes the gateway's store and first-use \
         allocations)",
        connected.saturating_sub(baseline) / MEMORY_PRINTERS as u64
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let peer = tokio::task::spawn_blocking(Peer::shared).await.unwrap();
    peer.make_idle().await;
    // A first gateway run warms up the allocator and the TLS/HTTP stacks, so the memory
    // figure below is mostly the printers' own.
    latency(peer).await;
    upload(peer).await;
    memory(peer).await;
}
