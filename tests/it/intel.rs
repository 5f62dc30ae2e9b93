//! What a file's analysis at intake gives, end to end over the LAN door: the thumbnail route,
//! the slicer's estimate on the job, the remaining time while printing (hand-driven and on
//! the simulated printer), and the per-printer estimate accuracy after completed jobs.

use crate::common;
use crate::web_harness;

use std::path::Path;
use std::sync::Arc;

use common::sim::SimDrivers;
use common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::config::{DriverConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, Percent};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::printer::driver::{DriverEnd, DriverReport, Outcome};
use fluxprint_gateway::printer::sim::SimConfig;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use web_harness::{Form, KEY, Lan, error_of, gcode, start};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode");
    std::fs::read(path.join(name)).unwrap()
}

/// Walks a PNG's chunks (each length-checked) and returns the IHDR size; panics unless the
/// image is a well-formed chunk sequence from IHDR to IEND.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "no PNG signature");
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    let (mut at, mut kinds, mut size) = (8, Vec::new(), None);
    while at < bytes.len() {
        let len = be(&bytes[at..at + 4]) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        if kind == b"IHDR" {
            size = Some((be(&data[0..4]), be(&data[4..8])));
        }
        kinds.push(String::from_utf8_lossy(kind).into_owned());
        at += 12 + len;
    }
    assert_eq!(at, bytes.len(), "chunks do not add up to the image");
    assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
    assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
    assert!(
        kinds.iter().any(|k| k == "IDAT"),
        "no image data: {kinds:?}"
    );
    size.unwrap()
}

async fn upload(lan: &Lan, name: &str, data: &[u8], printer: Option<&str>) -> Value {
    let mut form = Form::curl();
    if let Some(printer) = printer {
        form = form.text("printer", printer);
    }
    let response = lan.upload("/api/jobs", form.file(name, None, data)).await;
    assert_eq!(response.status(), 201, "uploading {name}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_uploaded_files_thumbnail_is_served_as_png_and_linked_from_its_job() {
    let lan = start(|_| {}).await;
    let job = upload(&lan, "thumb.gcode", &fixture("thumb.gcode"), None).await;
    assert_eq!(job["slicer_estimated_time"], 307);
    let url = job["thumbnail"]
        .as_str()
        .expect("a thumbnail link")
        .to_owned();
    let response = lan.http.get(lan.url(&url)).header("X-Api-Key", KEY);
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(cache.contains("max-age="), "{cache}");
    assert_eq!(png_size(&response.bytes().await.unwrap()), (220, 124));
    let again = lan.get_json(&format!("/api/jobs/{}", job["id"])).await;
    assert_eq!(again["thumbnail"].as_str(), Some(url.as_str()));

    let plain = upload(&lan, "plain.gcode", &gcode(20), None).await;
    assert_eq!(plain["thumbnail"], Value::Null);
    assert_eq!(plain["slicer_estimated_time"], Value::Null);
    let missing = lan.http.get(lan.url("/api/files/9999/thumbnail"));
    let (status, code, _, _) =
        error_of(missing.header("X-Api-Key", KEY).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "no_thumbnail"));
    let keyless = lan.http.get(lan.url(&url)).send().await.unwrap();
    assert_eq!(keyless.status(), 401, "read access follows public_status");
    lan.stop().await;
}

/// Reports `progress` and returns the printer's remaining time once the actor has it.
async fn remaining_at(lan: &Lan, end: &DriverEnd, job: JobId, progress: u8) -> (u64, u64) {
    let watch = lan.running.gateway.printers()[0].watch();
    let progress = Percent::new(progress);
    report(end, DriverReport::Progress { job, progress }).await;
    let status = wait_status(watch, "the progress", |s| {
        s.current.is_some_and(|c| c.progress == progress)
    })
    .await;
    let remaining = status.current.unwrap().remaining.expect("a remaining time");
    (remaining.corrected_s, remaining.raw_s)
}

/// One job of `cube.gcode` from upload to completion; returns the remaining times seen.
async fn print_one(lan: &Lan, end: &mut DriverEnd) -> Vec<(u64, u64)> {
    let mut events = lan.running.gateway.subscribe();
    upload(lan, "cube.gcode", &fixture("cube.gcode"), Some("mk3s")).await;
    let job = started_job(next_command(end).await);
    let mut seen = Vec::new();
    for p in [10, 50, 90] {
        seen.push(remaining_at(lan, end, job, p).await);
    }
    let status = lan.get_json("/api/status").await;
    assert_eq!(status["printers"][0]["remaining_time"], seen[2].0);
    let outcome = Outcome::Completed;
    report(end, DriverReport::Finished { job, outcome }).await;
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv()).await;
        if let EventKind::JobStatus(r) = event.expect("no completion").unwrap().kind {
            match r.status {
                JobStatus::Printing { progress } if progress.get() == 90 => {
                    assert_eq!(r.remaining_s, Some(seen[2].0), "the event's remaining time");
                }
                JobStatus::Completed => break,
                _ => {}
            }
        }
    }
    seen
}

#[tokio::test]
async fn remaining_time_falls_with_progress_and_completed_jobs_teach_the_printer_a_factor() {
    let lan = start(|c| c.printers[0].auto_start = true).await;
    let mut end = lan.drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    for round in 0..3 {
        let seen = print_one(&lan, &mut end).await;
        assert!(
            seen.windows(2).all(|w| w[0].0 > w[1].0 && w[0].1 > w[1].1),
            "round {round}: {seen:?}"
        );
    }
    // The last completion reaches the printer's status just after the job's own event.
    let watch = lan.running.gateway.printers()[0].watch();
    wait_status(watch, "accuracy over 3 jobs", |s| s.accuracy.jobs == 3).await;
    let printer = &lan.get_json("/api/status").await["printers"][0];
    let accuracy = &printer["accuracy"];
    assert_eq!(accuracy["jobs"], 3, "{printer}");
    // These prints "took" milliseconds: the factor is clamped at its floor.
    assert_eq!(accuracy["factor"], 0.5);
    assert!(accuracy["mean_abs_error_pct"].as_f64().unwrap() > 90.0);

    let next = upload(&lan, "cube.gcode", &fixture("cube.gcode"), Some("mk3s")).await;
    let raw = next["estimated_time"].as_u64().unwrap();
    assert_eq!(
        next["corrected_estimated_time"],
        (raw as f64 * 0.5).round() as u64
    );
    let job = started_job(next_command(&mut end).await);
    let (corrected, raw_left) = remaining_at(&lan, &end, job, 10).await;
    assert!(
        corrected < raw_left,
        "{corrected} corrected vs {raw_left} raw"
    );
    lan.stop().await;
}

/// A part of short moves, long enough for many progress reports on the simulator.
fn part(moves: usize) -> String {
    let mut g = String::from("; intel test part\nG28\nG90\nM83\nG1 Z0.2 F600\n");
    for i in 0..moves {
        let a = i as f64 * 0.05;
        let (x, y) = (100.0 + 20.0 * a.cos(), 100.0 + 20.0 * a.sin());
        g.push_str(&format!("G1 X{x:.3} Y{y:.3} E0.02 F900\n"));
    }
    g
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_print_reports_a_falling_remaining_time_and_counts_towards_accuracy() {
    // Its HTTP client needs the process's rustls provider; in one binary with every other
    // test, no test that installs it is sure to have run first.
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut sim = printer("sim", [250.0, 210.0, 210.0], true);
    sim.driver = DriverConfig::Simulated(SimConfig {
        speed_up: 50.0,
        line_latency_ms: 0,
        ..SimConfig::default()
    });
    let sims = SimDrivers::new(dir.path());
    let mut config = config(dir.path(), vec![sim]);
    config.web.api_key = Some(Secret::new(KEY));
    let running = app::start(config, Arc::new(sims.clone()), CancellationToken::new())
        .await
        .unwrap();
    let gw = running.gateway.clone();
    let mut events = gw.subscribe();
    let lan = Lan {
        base: format!("http://{}", running.web_addr()),
        running,
        drivers: Arc::default(),
        http: reqwest::Client::new(),
        dir,
    };
    upload(&lan, "part.gcode", part(400).as_bytes(), None).await;
    let mut remaining = Vec::new();
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv()).await;
        let EventKind::JobStatus(job) = event.expect("the print stalled").unwrap().kind else {
            continue;
        };
        match job.status {
            // The start (0 %) comes from the queue's claim, before any progress report.
            JobStatus::Printing { progress } if progress.get() > 0 => {
                remaining.push(job.remaining_s.expect("a remaining time"));
            }
            JobStatus::Printing { .. } => {}
            JobStatus::Completed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(remaining.len() >= 3, "{remaining:?}");
    assert!(remaining.first() > remaining.last(), "{remaining:?}");
    // The printer's status takes the new accuracy after the completion is committed (and its
    // event sent): wait for it rather than race it.
    let mut printer = gw.printers()[0].watch();
    tokio::time::timeout(PATIENCE, printer.wait_for(|s| s.accuracy.jobs == 1))
        .await
        .expect("the completed job never counted towards the accuracy")
        .unwrap();
    let status = lan.get_json("/api/status").await;
    let accuracy = &status["printers"][0]["accuracy"];
    assert_eq!(accuracy["jobs"], 1, "{accuracy}");
    assert_eq!(accuracy["factor"], 1.0, "one job does not move the factor");
    assert!(accuracy["mean_abs_error_pct"].is_number());
    drop(sims);
    lan.stop().await;
}
