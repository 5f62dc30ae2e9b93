//! Slicing on the gateway with the real PrusaSlicer (`apt-get install prusa-slicer`): models
//! uploaded over the LAN API are sliced, then printed on the built-in simulated printer;
//! broken models, slow slicers, cancels and restarts end as a person would expect. The
//! slow slicer is a shell script that announces itself on a FIFO, so the tests know when
//! it runs and when it is gone without any sleep.

use crate::common;
use crate::web_harness;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::PATIENCE;
use common::sim::SimDrivers;
use common::slicing::{cube_stl, follow, prusa_slicer};
use fluxprint_gateway::app;
use fluxprint_gateway::config::{Config, DriverConfig, Secret};
use fluxprint_gateway::domain::{JobId, JobStatus, QueuedStage};

use fluxprint_gateway::printer::sim::SimConfig;
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use web_harness::{Form, KEY, Lan};

/// A gateway with one fast simulated printer (`sim`, auto start) and `slicer` as its slicer.
async fn start(dir: TempDir, slicer: &Path, timeout_s: u64) -> (Lan, SimDrivers) {
    start_with(dir, Some(slicer), timeout_s).await
}

async fn start_with(dir: TempDir, slicer: Option<&Path>, timeout_s: u64) -> (Lan, SimDrivers) {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let mut printer = common::printer("sim", [200.0, 200.0, 200.0], true);
    printer.driver = DriverConfig::Simulated(SimConfig {
        speed_up: 1000.0,
        line_latency_ms: 0,
        ..SimConfig::default()
    });
    let mut config: Config = common::config(dir.path(), vec![printer]);
    config.web.api_key = Some(Secret::new(KEY));
    config.slicer.command = slicer.map(Path::to_path_buf);
    config.slicer.timeout = Duration::from_secs(timeout_s);
    let sims = SimDrivers::new(dir.path());
    let running = app::start(config, Arc::new(sims.clone()), CancellationToken::new())
        .await
        .expect("gateway starts");
    let base = format!("http://{}", running.web_addr());
    let lan = Lan {
        running,
        // The simulator drives the printer; no hand-driven ends.
        drivers: Arc::default(),
        base,
        http: reqwest::Client::new(),
        dir,
    };
    (lan, sims)
}

/// Neither a partial slice nor a sliced G-code file was left in the files directory.
fn assert_no_sliced_output(lan: &Lan) {
    let left: Vec<String> = (lan.stored_files().into_iter())
        .filter(|n| n.starts_with(".slicing-") || n.ends_with(".gcode"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Uploads `stl` as `name` to `POST /api/jobs`; returns the job JSON of the 201.
async fn upload(lan: &Lan, name: &str, stl: &[u8], material: &str, quality: &str) -> Value {
    let form = Form::curl()
        .text("material", material)
        .text("quality", quality)
        .file(name, Some("application/octet-stream"), stl);
    let response = lan.upload("/api/jobs", form).await;
    assert_eq!(response.status(), 201, "upload of {name}");
    response.json().await.unwrap()
}

fn job_id(job: &Value) -> JobId {
    JobId(job["id"].as_i64().expect("job id"))
}

/// A stand-in slicer that never finishes: it opens `alive` (a FIFO) for writing, which
/// waits for the test to open it, then becomes `sleep`, keeping the FIFO open until killed.
fn sleeping_slicer(dir: &Path) -> (PathBuf, PathBuf) {
    let alive = dir.join("alive");
    let made = std::process::Command::new("mkfifo")
        .arg(&alive)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let script = dir.join("slow-slicer");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec 3>'{}'\nexec sleep 600\n", alive.display()),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    (script, alive)
}

/// Returns once the sleeping slicer runs, with a task that ends when it is gone.
async fn slicer_started(alive: PathBuf) -> tokio::task::JoinHandle<()> {
    let opened = tokio::task::spawn_blocking(move || std::fs::File::open(alive).unwrap());
    let mut fifo = tokio::time::timeout(PATIENCE, opened)
        .await
        .expect("the slicer never started")
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let mut rest = Vec::new();
        // End of file: the last process holding the FIFO (the slicer) has exited.
        fifo.read_to_end(&mut rest).unwrap();
    })
}

async fn slicer_gone(gone: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(PATIENCE, gone)
        .await
        .expect("the slicer was not killed")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_model_is_sliced_with_its_profiles_then_printed_with_an_estimate() {
    let slicer = prusa_slicer();
    let (lan, sims) = start(tempfile::tempdir().unwrap(), &slicer, 600).await;
    let gw = &lan.running.gateway;
    let job = upload(&lan, "cube.stl", &cube_stl(10.0), "PETG", "draft").await;
    assert_eq!(
        (job["status"].as_str(), job["stage"].as_str()),
        (Some("queued"), Some("slicing"))
    );

    let seen = follow(gw, job_id(&job), "completed", |s| {
        *s == JobStatus::Completed
    })
    .await;
    let ready = seen
        .iter()
        .position(|s| *s == JobStatus::Queued(QueuedStage::Ready));
    let printing = seen
        .iter()
        .position(|s| matches!(s, JobStatus::Printing { .. }));
    assert_eq!(seen[0], JobStatus::Queued(QueuedStage::Slicing), "{seen:?}");
    assert!(
        ready.is_some() && ready < printing,
        "slicing → ready → printing: {seen:?}"
    );

    let done = lan.get_json(&format!("/api/jobs/{}", job_id(&job).0)).await;
    assert_eq!(done["status"], "completed");
    assert!(done["estimated_time"].as_u64().unwrap() > 0, "{done}");
    assert!(done["estimated_cost"].as_f64().unwrap() > 0.0, "{done}");
    // The sliced G-code got the analysis every job file gets: PrusaSlicer's own estimate
    // (from its comments) is kept next to ours.
    assert!(
        done["slicer_estimated_time"]
            .as_u64()
            .is_some_and(|t| t > 0),
        "{done}"
    );
    let commands = sims.device("sim").accepted_commands();
    // PETG's first layer (material/petg.ini) heated by printer.ini's start G-code.
    for heat in ["M190 S85", "M109 S240"] {
        assert!(
            commands.iter().any(|c| c == heat),
            "{heat} not sent: {:?}",
            &commands[..20.min(commands.len())]
        );
    }
    let sliced: Vec<String> = lan
        .stored_files()
        .into_iter()
        .filter(|n| n.ends_with("-cube.gcode"))
        .collect();
    assert_eq!(sliced.len(), 1, "{:?}", lan.stored_files());
    assert!(
        !lan.stored_files()
            .iter()
            .any(|n| n.starts_with(".slicing-"))
    );
    lan.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_slicer_cannot_read_fails_the_job_with_the_slicers_message() {
    let slicer = prusa_slicer();
    let (lan, _sims) = start(tempfile::tempdir().unwrap(), &slicer, 600).await;
    let broken =
        b"solid broken\nfacet normal 0 0 1\nouter loop\nendloop\nendfacet\nendsolid broken\n";
    let job = upload(&lan, "broken.stl", broken, "PLA", "standard").await;
    let gw = &lan.running.gateway;
    let seen = follow(gw, job_id(&job), "failed", JobStatus::is_final).await;
    let error = seen.last().unwrap().error().unwrap_or_default().to_owned();
    assert_eq!(
        error,
        "slicing failed: broken.stl: Loading of a model file failed."
    );
    let json = lan.get_json(&format!("/api/jobs/{}", job_id(&job).0)).await;
    assert_eq!(
        (json["status"].as_str(), json["error"].as_str()),
        (Some("failed"), Some(error.as_str()))
    );
    assert_no_sliced_output(&lan);
    lan.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_past_its_timeout_is_killed_and_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let (script, alive) = sleeping_slicer(dir.path());
    let (lan, _sims) = start(dir, &script, 1).await;
    let job = upload(&lan, "cube.stl", &cube_stl(10.0), "PLA", "draft").await;
    let gone = slicer_started(alive).await;
    let gw = &lan.running.gateway;
    let seen = follow(gw, job_id(&job), "failed", JobStatus::is_final).await;
    assert_eq!(
        seen.last().unwrap().error(),
        Some("slicing timed out after 1 s")
    );
    slicer_gone(gone).await;
    lan.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_job_while_it_slices_kills_the_slicer() {
    let dir = tempfile::tempdir().unwrap();
    let (script, alive) = sleeping_slicer(dir.path());
    let (lan, _sims) = start(dir, &script, 600).await;
    let job = upload(&lan, "cube.stl", &cube_stl(10.0), "PLA", "draft").await;
    let gone = slicer_started(alive).await;
    let response = lan
        .post_key(&format!("/api/jobs/{}/cancel", job_id(&job).0))
        .await;
    assert_eq!(response.status(), 200);
    slicer_gone(gone).await;
    let json = lan.get_json(&format!("/api/jobs/{}", job_id(&job).0)).await;
    assert_eq!(json["status"], "cancelled");
    assert_no_sliced_output(&lan);
    lan.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_cut_off_by_shutdown_runs_again_at_the_next_start() {
    let slicer = prusa_slicer();
    let dir = tempfile::tempdir().unwrap();
    let (script, alive) = sleeping_slicer(dir.path());
    let (lan, _sims) = start(dir, &script, 600).await;
    let job = upload(&lan, "cube.stl", &cube_stl(10.0), "PLA", "draft").await;
    let gone = slicer_started(alive).await;
    let Lan { running, dir, .. } = lan;
    running.stop().await;
    slicer_gone(gone).await;

    let (lan, _sims) = start(dir, &slicer, 600).await;
    let gw = &lan.running.gateway;
    let seen = follow(gw, job_id(&job), "completed", |s| {
        *s == JobStatus::Completed
    })
    .await;
    assert!(
        seen.contains(&JobStatus::Queued(QueuedStage::Ready)),
        "{seen:?}"
    );
    lan.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_sent_from_a_desktop_slicer_with_print_is_sliced_and_printed_too() {
    let slicer = prusa_slicer();
    let (lan, _sims) = start(tempfile::tempdir().unwrap(), &slicer, 600).await;
    let form = Form::curl().text("print", "true").file(
        "cube.stl",
        Some("application/octet-stream"),
        &cube_stl(10.0),
    );
    let response = lan.upload("/api/files/local", form).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let id = JobId(body["job"].as_i64().expect("a job for print=true"));
    let gw = &lan.running.gateway;
    let seen = follow(gw, id, "completed", |s| *s == JobStatus::Completed).await;
    assert_eq!(seen[0], JobStatus::Queued(QueuedStage::Slicing), "{seen:?}");
    assert!(
        seen.contains(&JobStatus::Queued(QueuedStage::Ready)),
        "{seen:?}"
    );
    lan.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_slicing_fails_at_a_start_without_a_slicer() {
    let dir = tempfile::tempdir().unwrap();
    let (script, alive) = sleeping_slicer(dir.path());
    let (lan, _sims) = start(dir, &script, 600).await;
    let job = upload(&lan, "cube.stl", &cube_stl(10.0), "PLA", "draft").await;
    let gone = slicer_started(alive).await;
    let Lan { running, dir, .. } = lan;
    running.stop().await;
    slicer_gone(gone).await;

    let (lan, _sims) = start_with(dir, None, 600).await;
    let json = lan.get_json(&format!("/api/jobs/{}", job_id(&job).0)).await;
    assert_eq!(json["status"], "failed");
    assert_eq!(
        json["error"],
        "this gateway prints G-code; configure a slicer"
    );
    lan.stop().await;
}
