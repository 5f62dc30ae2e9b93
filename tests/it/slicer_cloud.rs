//! Slicing a model the cloud submits: `job.submit` with an STL is fetched, then sliced by
//! the real PrusaSlicer, then started — the same stages as a LAN upload.

use crate::common;

use common::file_server::FileServer;
use common::mosquitto::*;
use common::slicing::{cube_stl, follow, prusa_slicer};
use common::*;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::domain::{JobStatus, QueuedStage};
use fluxprint_gateway::printer::driver::{DriverReport, Outcome};
use serde_json::json;

// One thread, as in `cloud_link`: the link task subscribes right after it connects, before
// this test resumes on the connected state and publishes its command.
#[tokio::test]
async fn a_model_submitted_by_the_cloud_is_fetched_sliced_and_started() {
    let slicer = prusa_slicer();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let drivers = HandDrivers::default();
    let printers = vec![printer("mk3s", [250.0, 210.0, 210.0], true)];
    let link = link(&pki, broker.port, MqttVersion::V5);
    let mut config = with_cloud(config(dir.path(), printers), &pki, link);
    config.slicer.command = Some(slicer);
    let running = start_connected(config, &drivers).await;
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;

    let file = FileServer::start(&pki, "cube.stl", cube_stl(10.0)).await;
    let args = json!({"job_id": "c-stl", "material": "ASA", "quality": "fine",
        "file": {"name": "cube.stl", "url": file.url, "sha256": file.sha256}});
    let submit = json!({"v": 1, "id": "s-stl", "args": args});
    cloud.command("job.submit", submit, None).await;
    let reply = cloud.reply("s-stl").await;
    assert_eq!(reply["result"]["stage"], "fetching", "{reply}");

    let gw = &running.gateway;
    let id = fluxprint_gateway::domain::JobId(reply["result"]["id"].as_i64().unwrap());
    let started = started_job(next_command(&mut end).await);
    assert_eq!(started, id);
    let seen = follow(gw, id, "printing", JobStatus::is_on_printer).await;
    let stages = [
        QueuedStage::Fetching,
        QueuedStage::Slicing,
        QueuedStage::Ready,
    ];
    assert_eq!(seen[..3], stages.map(JobStatus::Queued), "{seen:?}");
    let job = gw.job(id).await.unwrap();
    assert!(job.estimated_time_s.is_some_and(|t| t > 0), "{job:?}");
    let sliced = gw.file(job.file.unwrap()).await;
    let sliced = sliced.unwrap().unwrap();
    assert_eq!(sliced.display_name, "cube.gcode");
    let text = std::fs::read_to_string(&sliced.path).unwrap();
    // ASA's first layer (material/asa.ini) at the fine preset's 0.1 mm layers.
    assert!(text.contains("M109 S260") && text.contains("; layer_height = 0.1"));
    let finished = Outcome::Completed;
    report(
        &end,
        DriverReport::Finished {
            job: id,
            outcome: finished,
        },
    )
    .await;
    follow(gw, id, "completed", |s| *s == JobStatus::Completed).await;
    running.stop().await;
}
