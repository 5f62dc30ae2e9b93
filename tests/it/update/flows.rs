//! The update flows: committed, refused, rolled back.

use ring::signature::Ed25519KeyPair;

use super::{Farm, OLD, Systemd, new_version, next_build, stage_names, update};

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
    let farm = Farm::start("health_timeout_s = 3");
    let mut cloud = farm.cloud().await;
    let _systemd = Systemd::start(&farm);
    // A build that dies at start (a wrong-architecture or corrupt binary behaves so).
    let broken = b"#!/bin/sh\necho 'broken build' >&2\nexit 1\n".to_vec();
    let args = farm.release(broken, None).await;
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
}
