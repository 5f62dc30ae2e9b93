//! The gateway is killed (SIGKILL, in a child process: no shutdown code runs) and started
//! again while commands wait for it at the broker (its persistent session): each command is
//! executed exactly once, and one it had already answered gets the same reply again.
//!
//! The child is this test binary re-run with
//! `--ignored --exact cloud_restart::child_cloud_gateway` and the test directory and broker
//! port in `FLUXPRINT_CLOUD_CHILD`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;

use common::file_server::FileServer;
use common::mosquitto::*;
use common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::jobs::JobFilter;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const CHILD_ENV: &str = "FLUXPRINT_CLOUD_CHILD";
const READY_LINE: &str = "CHILD-CLOUD-GATEWAY-CONNECTED";

fn gateway_config(dir: &std::path::Path, port: u16) -> fluxprint_gateway::config::Config {
    let pki = Pki::at(dir);
    with_cloud(
        config(dir, vec![printer("mk3s", [250.0, 210.0, 210.0], false)]),
        &pki,
        link(&pki, port, MqttVersion::V5),
    )
}

#[tokio::test]
#[ignore = "run by a_killed_gateway_executes_each_queued_command_once_after_restart"]
async fn child_cloud_gateway() {
    let spec = std::env::var(CHILD_ENV).expect("this is the child half of the restart test");
    let (dir, port) = spec.rsplit_once(':').unwrap();
    let config = gateway_config(std::path::Path::new(dir), port.parse().unwrap());
    let _running = start_connected(config, &HandDrivers::default()).await;
    println!("{READY_LINE}");
    std::future::pending::<()>().await;
}

fn submit(id: &str, job: &str, file: &FileServer) -> Value {
    json!({"v": 1, "id": id, "args": {"job_id": job,
        "file": {"name": "a.gcode", "url": file.url, "sha256": file.sha256}}})
}

#[tokio::test]
async fn a_killed_gateway_executes_each_queued_command_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let file = FileServer::start(&pki, "a.gcode", b"G28\n".to_vec()).await;

    let mut child = child_test(module_path!(), "child_cloud_gateway")
        .env(
            CHILD_ENV,
            format!("{}:{}", dir.path().display(), broker.port),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let ready = tokio::task::spawn_blocking(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains(READY_LINE))
    });
    assert!(ready.await.unwrap(), "the child gateway never connected");
    cloud
        .command("job.submit", submit("before-1", "c-1", &file), None)
        .await;
    let first = cloud.reply("before-1").await;
    assert_eq!(first["ok"], true, "{first}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    for (id, job) in [("q-1", "c-2"), ("q-2", "c-3"), ("before-1", "c-1")] {
        cloud
            .command("job.submit", submit(id, job, &file), None)
            .await;
    }
    let running = app::start(
        gateway_config(dir.path(), broker.port),
        Arc::new(HandDrivers::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(cloud.reply("q-1").await["ok"], true);
    assert_eq!(cloud.reply("q-2").await["ok"], true);
    assert_eq!(
        cloud.reply("before-1").await,
        first,
        "the stored reply, again"
    );

    let filter = JobFilter {
        limit: 100,
        ..JobFilter::default()
    };
    let jobs = running.gateway.jobs(filter).await.unwrap();
    let mut cloud_ids: Vec<_> = jobs.iter().filter_map(|j| j.cloud_job_id.clone()).collect();
    cloud_ids.sort();
    assert_eq!(
        cloud_ids,
        ["c-1", "c-2", "c-3"],
        "each command executed once"
    );
    running.stop().await;
}
