//! SIGKILL of the whole gateway at a random point of a layered print (a property test over
//! the kill point): the simulated printer lives in the killed process, so this is a power
//! cut of Pi and printer. After the restart the job is `interrupted`, its journal survived,
//! and a recovery over REST resumes at a layer start — never after the last confirmed line,
//! never before the last journaled layer start — and prints the prologue followed by the
//! file from there.
//!
//! The killed gateway is this test binary re-run with `--ignored --exact
//! recovery::kill::child_gateway_printing_a_layered_part`, its state directory and the
//! progress at which it says it is ready to be killed in the environment.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use super::support::*;
use crate::common::*;
use fluxprint_gateway::domain::{JobId, JobStatus, PrinterId, PrinterState};
use proptest::prelude::*;

const DIR_ENV: &str = "FLUXPRINT_RECOVERY_CHILD";
const AT_ENV: &str = "FLUXPRINT_RECOVERY_KILL_AT";
const READY: &str = "RECOVERY-CHILD-READY-TO-DIE";

#[tokio::test]
#[ignore = "run by a_gateway_killed_mid_print_resumes_at_a_journaled_layer_start"]
async fn child_gateway_printing_a_layered_part() {
    let dir = std::path::PathBuf::from(std::env::var_os(DIR_ENV).expect("the child half"));
    let at: u8 = std::env::var(AT_ENV).unwrap().parse().unwrap();
    let (running, _sims) = start(&dir).await;
    let gw = &running.gateway;
    let id = submit(gw, &dir, "part", &layered(LAYERS, MOVES)).await;
    println!("JOB {}", id.0);
    WAIT.job(gw, id, "far enough", |s| s.progress().get() >= at)
        .await;
    println!("{READY}");
    std::future::pending::<()>().await;
}

/// Runs the child until it is `at` % into the print, then kills it with SIGKILL.
fn kill_child_at(dir: &std::path::Path, at: u8) -> JobId {
    let mut child = child_test(module_path!(), "child_gateway_printing_a_layered_part")
        .env(DIR_ENV, dir)
        .env(AT_ENV, at.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut job = None;
    let mut ready = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // The test harness may have written its "test … " on the same line.
        if let Some((_, n)) = line.split_once("JOB ") {
            job = n.trim().parse().ok().map(JobId);
        }
        if line.contains(READY) {
            ready = true;
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().unwrap();
    assert!(ready, "the child gateway never reached {at} %");
    job.expect("the child named its job")
}

/// The layer start the journal held when the gateway died, read from the database itself.
fn journaled_layer_line(dir: &std::path::Path, job: JobId) -> u64 {
    let db = rusqlite::Connection::open(dir.join("gateway.db")).unwrap();
    db.query_row(
        "SELECT layer_line FROM job_journal WHERE job_id = ?1",
        [job.0],
        |r| r.get::<_, i64>(0),
    )
    .map(|l| l as u64)
    .expect("a journal row survived the kill")
}

async fn restart_and_recover(dir: &std::path::Path, job: JobId) {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let journaled = journaled_layer_line(dir, job);
    let (running, sims) = start(dir).await;
    let gw = &running.gateway;
    let status = gw.job(job).await.unwrap().status;
    assert!(
        matches!(status, JobStatus::Interrupted { .. }),
        "{status:?}"
    );
    WAIT.printer(gw, "awaiting bed clear", |s| {
        matches!(s, PrinterState::AwaitingBedClear { .. })
    })
    .await;
    let text = layered(LAYERS, MOVES);
    let device = sims.device("sim");
    let before = device.accepted_commands().len();
    let key = fluxprint_gateway::web::load_or_generate_api_key(dir, None).unwrap();
    let url = format!("http://{}/api/jobs/{}/recover", running.web_addr(), job.0);
    // 503 until the port is open and the firmware booted again.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let response = loop {
        let response = reqwest::Client::new()
            .post(&url)
            .header("X-Api-Key", key.expose())
            .send()
            .await
            .unwrap();
        if response.status() != 503 || tokio::time::Instant::now() > deadline {
            break response;
        }
        let mut watch = gw.printers()[0].watch();
        let _ = tokio::time::timeout(std::time::Duration::from_millis(100), watch.changed()).await;
    };
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["job"]["status"], "printing");
    let plan = gw
        .recover(job, Default::default())
        .await
        .expect_err("a printing job is not recovered twice");
    assert_eq!(plan.code(), "conflict");
    let line = body["recovery"]["line"].as_u64().unwrap();
    assert!(
        line >= journaled,
        "resumed at {line}, before the journaled layer {journaled}"
    );
    WAIT.job(gw, job, "completed", |s| *s == JobStatus::Completed)
        .await;
    let layer = body["recovery"]["layer"].as_u64().unwrap() as u32;
    let plan = fluxprint_gateway::printer::Recovery {
        prologue: body["recovery"]["prologue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect(),
        ..plan_of(&text, layer, line, &body["recovery"])
    };
    check_plan(&text, &plan);
    let record = job_commands(device.accepted_commands()[before..].to_vec());
    assert_eq!(record, resumed_record(&text, &plan));
    running.shutdown_token().cancel();
}

/// The plan as the answer gave it (what `check_plan` and `resumed_record` read).
fn plan_of(
    text: &str,
    layer: u32,
    line: u64,
    json: &serde_json::Value,
) -> fluxprint_gateway::printer::Recovery {
    let offset: usize = text.lines().take(line as usize).map(|l| l.len() + 1).sum();
    let mut start = fluxprint_gateway::domain::LayerStart {
        number: layer,
        line,
        offset: offset as u64,
        z: json["z_mm"].as_f64().unwrap(),
        state: Default::default(),
    };
    start.z -= json["z_offset_mm"].as_f64().unwrap();
    fluxprint_gateway::printer::Recovery {
        job: JobId(json["gateway_job"].as_i64().unwrap()),
        printer: PrinterId("sim".into()),
        file: Default::default(),
        layer: start,
        nozzle_z: json["nozzle_z_mm"].as_f64().unwrap(),
        confirmed_line: json["confirmed_line"].as_u64().unwrap(),
        confirmed_layer: json["confirmed_layer"].as_u64().unwrap() as u32,
        z_offset_mm: json["z_offset_mm"].as_f64().unwrap(),
        prologue: Vec::new(),
    }
}

proptest! {
    // Each case is a print, a kill, a restart and a resumed print (a few seconds).
    #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_gateway_killed_mid_print_resumes_at_a_journaled_layer_start(at in 12u8..90) {
        let dir = tempfile::tempdir().unwrap();
        let job = kill_child_at(dir.path(), at);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(restart_and_recover(dir.path(), job));
    }
}
