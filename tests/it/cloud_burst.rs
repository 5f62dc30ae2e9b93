//! Commands sent back to back, without waiting for replies, against a real mosquitto: the
//! gateway answers several at once, yet each id gets exactly one reply, a repeated id gets
//! the first reply and changes nothing, and a command sent after a submission sees its job.

use crate::common;

use common::file_server::FileServer;
use common::mosquitto::*;
use common::*;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::jobs::JobFilter;
use serde_json::{Value, json};

const SUBMITS: usize = 30;

fn submit(id: &str, job: &str, file: &FileServer) -> Value {
    let args = json!({"job_id": job,
        "file": {"name": "a.gcode", "url": file.url, "sha256": file.sha256}});
    json!({"v": 1, "id": id, "args": args})
}

#[tokio::test]
async fn a_burst_is_answered_once_per_id_and_a_cancel_after_a_submit_finds_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let config = with_cloud(
        config(
            dir.path(),
            vec![printer("mk3s", [250.0, 210.0, 210.0], false)],
        ),
        &pki,
        link(&pki, broker.port, MqttVersion::V5),
    );
    let running = start_connected(config, &HandDrivers::default()).await;
    let file = FileServer::start(&pki, "a.gcode", b"G28\n".to_vec()).await;

    for i in 0..SUBMITS {
        let body = submit(&format!("s-{i}"), &format!("job-{i}"), &file);
        cloud.command("job.submit", body, None).await;
    }
    // The same id again (a redelivery), and the same cloud job under a new id.
    let redelivered = submit("s-0", "job-0", &file);
    cloud.command("job.submit", redelivered, None).await;
    let same_job = submit("s-again", "job-1", &file);
    cloud.command("job.submit", same_job, None).await;
    let last = format!("job-{}", SUBMITS - 1);
    let cancel = json!({"v": 1, "id": "c-1", "args": {"job_id": last}});
    cloud.command("job.cancel", cancel, None).await;

    let mut first = Value::Null;
    for i in 0..SUBMITS {
        let reply = cloud.reply(&format!("s-{i}")).await;
        assert_eq!(reply["ok"], true, "{reply}");
        if i == 0 {
            first = reply;
        }
    }
    assert_eq!(
        cloud.reply("s-0").await,
        first,
        "a repeated id gets the first reply"
    );
    let refused = cloud.reply("s-again").await;
    assert_eq!(refused["error"]["code"], "conflict", "{refused}");
    let cancelled = cloud.reply("c-1").await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");

    let all = JobFilter {
        limit: 100,
        ..JobFilter::default()
    };
    let jobs = running.gateway.jobs(all).await.unwrap();
    assert_eq!(jobs.len(), SUBMITS, "one job per cloud job id");
    running.stop().await;
}
