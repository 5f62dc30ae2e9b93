//! The update flows: committed, refused, rolled back, deferred while printing.

use ring::signature::Ed25519KeyPair;
use serde_json::json;

use crate::common::file_server::FileServer;
use crate::common::mosquitto::topic;

use super::{Farm, OLD, Systemd, new_version, next_build, stage_names, update, update_answer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_release_is_installed_and_committed_once_the_new_version_is_healthy() {
    let release = std::fs::read(next_build()).unwrap();
    let farm = Farm::start("");
    let mut cloud = farm.cloud().await;
    let _systemd = Systemd::start(&farm);
    let args = farm.release(release, None).await;
    let (stages, reply) = update(&mut cloud, "up-1", args).await;
    assert_eq!(reply["ok"], true, "{reply}\n{}", farm.log());
    assert_eq!(reply["result"]["version"], new_version());
    assert_eq!(
        stage_names(&stages),
        ["downloading", "verifying", "installing", "committed"]
    );
    assert!(farm.installed_version().ends_with(&new_version()));
    let health = std::fs::read_to_string(farm.state_dir.join("update/health.json")).unwrap();
    assert!(health.contains(&new_version()), "{health}");
    assert!(!farm.state_dir.join("update/staged").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_signed_with_another_key_is_refused_and_nothing_is_staged() {
    let farm = Farm::start("");
    let mut cloud = farm.cloud().await;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let stranger = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let args = farm
        .release(b"not our release".to_vec(), Some(&stranger))
        .await;
    let (stages, reply) = update(&mut cloud, "up-2", args).await;
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["code"], "update_refused");
    assert_eq!(stage_names(&stages), ["refused"]);
    assert!(stages[0]["reason"].as_str().unwrap().contains("signature"));
    let dir = farm.state_dir.join("update");
    assert!(!dir.join("staged").exists() && !dir.join("request.json").exists());
    assert!(farm.installed_version().ends_with(OLD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_gets_healthy_is_rolled_back_and_the_old_one_answers() {
    const EXTRA: &str = "health_timeout_s = 3";
    let release = std::fs::read(next_build()).unwrap();
    let farm = Farm::start(EXTRA);
    // The real second build, started with a config whose cloud link trusts another CA: it
    // runs, holds the store, but its link never connects, so it never reports healthy.
    farm.next_cannot_connect(EXTRA);
    let mut cloud = farm.cloud().await;
    let _systemd = Systemd::start(&farm);
    let args = farm.release(release, None).await;
    let (stages, reply) = update(&mut cloud, "up-3", args).await;
    assert_eq!(reply["error"]["code"], "update_rolled_back", "{reply}");
    assert_eq!(
        stage_names(&stages),
        ["downloading", "verifying", "installing", "rolled-back"]
    );
    assert!(stages[3]["reason"].as_str().unwrap().contains("healthy"));
    assert!(farm.installed_version().ends_with(OLD));
    let health = std::fs::read_to_string(farm.state_dir.join("update/health.json")).unwrap();
    assert!(health.contains(&format!("\"{OLD}\"")), "{health}");
    // Started: the old version, the new one (that never got healthy), the old one again.
    let starts = farm.starts();
    assert_eq!(starts.len(), 3, "{starts:?}\n{}", farm.log());
    assert!(
        starts[0].ends_with(OLD) && starts[2].ends_with(OLD),
        "{starts:?}"
    );
    assert!(starts[1].ends_with(&new_version()), "{starts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_waits_while_a_printer_prints_and_installs_after_the_job() {
    let release = std::fs::read(next_build()).unwrap();
    let farm = Farm::start("");
    let mut cloud = farm.cloud().await;
    let _systemd = Systemd::start(&farm);
    let args = farm.release(release, None).await;
    // A twelve-second dwell on the simulated printer (real-time speed): longer than
    // the download of the release by a debug build.
    let gcode = b"; slow part\nG28\nG4 S12\nG1 X10 F600\n".to_vec();
    let file = FileServer::start(&farm.pki, "slow.gcode", gcode).await;
    let submit = json!({"v": 1, "id": "job-1", "args": {"job_id": "slow", "file": {
        "name": "slow.gcode", "url": file.url, "sha256": file.sha256}}});
    cloud.command("job.submit", submit, None).await;
    let is_event = |s: &crate::common::mosquitto::Seen, kind: &str| {
        s.topic == topic("events") && s.payload["type"] == kind
    };
    cloud
        .wait_for("the printer printing", |s| {
            is_event(s, "printer:state") && s.payload["state"] == "printing"
        })
        .await;
    let command = json!({"v": 1, "id": "up-4", "args": args});
    cloud.command("gateway.update", command, None).await;
    let (stages, reply) = update_answer(&mut cloud, "up-4").await;
    assert_eq!(reply["ok"], true, "{reply}\n{}", farm.log());
    assert_eq!(
        stage_names(&stages),
        [
            "downloading",
            "verifying",
            "waiting-idle",
            "installing",
            "committed"
        ],
        "{}",
        farm.log()
    );
    let done = cloud
        .next("the job completed", |s| {
            is_event(s, "print:status-update") && s.payload["status"] == "completed"
        })
        .await;
    assert!(done.payload["seq"].as_u64() < stages[3]["seq"].as_u64());
    assert!(farm.installed_version().ends_with(&new_version()));
}
