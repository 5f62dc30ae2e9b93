//! The node holding the gateway's connection is killed (`kill -9`: no goodbye, no last will)
//! while the gateway prints. The gateway moves on to the next of its `cloud.fallback_urls`,
//! its session (a quorum queue) is still there, a command sent meanwhile runs once,
//! and the backend, on a node that stayed up, sees every event in `seq` order without asking
//! for a replay. A backend on the node the gateway moved to finds its retained state.
//! Node 3 is the one killed: the other cluster tests use nodes 1 and 2 only.

use super::*;
use common::rabbitmq::GATEWAYS;
use fluxprint_gateway::domain::Percent;
use fluxprint_gateway::printer::driver::{DriverReport, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_node_killed_mid_print_moves_it_to_the_next_node_losing_nothing() {
    let cluster = Cluster::shared();
    let id = GATEWAYS[2];
    let _turn = cluster.kill_turn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut backend = Backend::connect(2, "backend-kill", &format!("fluxprint/{id}/#")).await;
    let drivers = HandDrivers::default();
    let nodes = [cluster.url(3), cluster.url(1), cluster.url(2)];
    let running = start_connected(gateway_config(dir.path(), id, id, &nodes), &drivers).await;
    let gw = running.gateway.clone();
    let mut link = running.cloud.as_ref().unwrap().state.clone();
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    gw.submit(job_with_file(&gw, dir.path(), "part").await)
        .await
        .unwrap();
    let job = started_job(next_command(&mut end).await);
    let progress = |p| DriverReport::Progress {
        job,
        progress: Percent::new(p),
    };
    report(&end, progress(10)).await;
    let events = format!("fluxprint/{id}/events");
    backend
        .wait_for("progress 10", |s| {
            s.topic == events && s.payload["progress"] == 10
        })
        .await;

    tokio::task::spawn_blocking(|| Cluster::shared().kill9(3))
        .await
        .unwrap();
    let mut stored = gw.subscribe();
    for p in [20, 30, 40] {
        report(&end, progress(p)).await;
        stored.recv().await.unwrap();
    }
    backend
        .command(id, "state.get", cmd("during-kill", serde_json::json!({})))
        .await;
    tokio::time::timeout(
        PATIENCE,
        link.wait_for(|s| matches!(s, LinkState::Connected { epoch, .. } if *epoch >= 2)),
    )
    .await
    .expect("the gateway never reached another node")
    .unwrap();
    for p in [50, 60] {
        report(&end, progress(p)).await;
    }
    report(
        &end,
        DriverReport::Finished {
            job,
            outcome: Outcome::Completed,
        },
    )
    .await;

    let reply = backend.reply(id, "during-kill").await;
    assert_eq!(reply["ok"], true, "{reply}");
    let mut seen = Vec::new();
    loop {
        let event = backend.next("events", |s| s.topic == events).await.payload;
        let done = event["status"] == "completed";
        seen.push(event);
        if done {
            break;
        }
    }
    contiguous_seqs(&seen);
    let progress: Vec<u64> = seen.iter().filter_map(|e| e["progress"].as_u64()).collect();
    for p in [10, 20, 30, 40, 50, 60] {
        assert!(progress.contains(&p), "progress {p} missing: {progress:?}");
    }
    // A command may arrive twice (the backend's publish is sent again when a queue between
    // leaders refused it): it runs once, and every further reply is the remembered one.
    for again in backend.received() {
        if again.topic.ends_with("/reply") && again.payload["id"] == "during-kill" {
            assert_eq!(again.payload, reply, "a command ran twice");
        }
    }

    // Node 1 came next in the list: the gateway's state is retained there, online.
    let mut on_node1 =
        Backend::connect(1, "backend-kill-1", &format!("fluxprint/{id}/state")).await;
    let state = on_node1
        .next("the retained state on node 1", |s| s.retain)
        .await
        .payload;
    assert_eq!(state["online"], true, "{state}");

    running.stop().await;
    tokio::task::spawn_blocking(|| Cluster::shared().restart(3))
        .await
        .unwrap();
}
