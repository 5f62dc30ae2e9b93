//! `job.recover` from the cloud, through a real mosquitto: an unplugged print is recovered by
//! the cloud's command (the same `Gateway::recover` the LAN route makes), answered once with
//! the job and the plan; a layer past what was printed is refused with its code and leaves
//! the job interrupted.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::common::mosquitto::*;
use crate::common::pki::Pki;
use crate::common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::cloud::LinkState;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::domain::JobStatus;
use fluxprint_gateway::printer::RecoverOptions;

#[tokio::test]
async fn the_cloud_recovers_an_unplugged_print_with_job_recover() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let sims = sim::SimDrivers::new(dir.path());
    let config = with_cloud(
        config(dir.path(), vec![sim_printer()]),
        &pki,
        link(&pki, broker.port, MqttVersion::V5),
    );
    let running = app::start(config, Arc::new(sims.clone()), CancellationToken::new())
        .await
        .unwrap();
    let mut link_state = running.cloud.as_ref().unwrap().state.clone();
    tokio::time::timeout(PATIENCE, link_state.wait_for(LinkState::is_connected))
        .await
        .expect("the gateway never connected to the broker")
        .unwrap();
    let gw = &running.gateway;
    let text = layered(LAYERS, MOVES);
    let id = submit(gw, dir.path(), "part", &text).await;
    WAIT.job(gw, id, "40 % printed", |s| s.progress().get() >= 40)
        .await;
    let device = sims.device("sim");
    unplug_until_interrupted_then_replug(gw, &device, id).await;

    let too_far = json!({"v": 1, "id": "r-far", "args": {"job_id": id.0, "from_layer": 1000}});
    cloud.command("job.recover", too_far, None).await;
    let refused = cloud.reply("r-far").await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["error"]["code"], "no_such_layer", "{refused}");
    let job = gw.job(id).await.unwrap();
    assert!(
        matches!(job.status, JobStatus::Interrupted { .. }),
        "{job:?}"
    );

    let plan = gw
        .recovery_plan(id, RecoverOptions::default())
        .await
        .unwrap();
    let before = device.accepted_commands().len();
    let answer = recover_over_mqtt(&mut cloud, gw, id.0).await;
    assert_eq!(answer["result"]["job"]["status"], "printing", "{answer}");
    let recovery = &answer["result"]["recovery"];
    assert_eq!(recovery["layer"], plan.layer.number, "{answer}");
    assert_eq!(recovery["line"], plan.layer.line, "{answer}");
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    let record = job_commands(device.accepted_commands()[before..].to_vec());
    assert_eq!(record, resumed_record(&text, &plan));
    running.stop().await;
}

/// Sends `job.recover` until the printer is connected again (until then the gateway answers
/// `printer_unavailable`: the port reopens and the firmware boots after the replug), for up
/// to the printer patience; the first other answer, which must be ok.
async fn recover_over_mqtt(
    cloud: &mut Cloud,
    gw: &fluxprint_gateway::gateway::Gateway,
    job: i64,
) -> Value {
    let mut watch = gw.printers()[0].watch();
    let deadline = tokio::time::Instant::now() + WAIT.printer;
    for attempt in 0.. {
        let id = format!("r-{attempt}");
        let args = json!({"job_id": job});
        let command = json!({"v": 1, "id": id, "args": args});
        cloud.command("job.recover", command, None).await;
        let reply = cloud.reply(&id).await;
        if reply["error"]["code"] != "printer_unavailable" {
            assert_eq!(reply["ok"], true, "{reply}");
            return reply;
        }
        let state = watch.borrow_and_update().state.clone();
        assert!(
            tokio::time::Instant::now() < deadline,
            "the printer never came back for job.recover: {state:?}"
        );
        // The next change of the printer's state, or a while.
        let wait = std::time::Duration::from_millis(100);
        let _ = tokio::time::timeout(wait, watch.wait_for(|s| s.state != state)).await;
    }
    unreachable!()
}
