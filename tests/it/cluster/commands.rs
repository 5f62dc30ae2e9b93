//! Commands and replies across nodes: the backend on node 2, the gateway on node 1. Each
//! command gets exactly one reply, a repeated id gets the same reply without running again,
//! and what the backend sends while the gateway is away waits in its session.

use super::*;
use common::rabbitmq::GATEWAYS;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sent_on_another_node_get_one_reply_each_even_while_the_gateway_is_away() {
    let cluster = Cluster::shared();
    let id = GATEWAYS[0];
    let dir = tempfile::tempdir().unwrap();
    let mut backend = Backend::connect(2, "backend-cmd", &format!("fluxprint/{id}/#")).await;
    let drivers = HandDrivers::default();
    let nodes = [cluster.url(1), cluster.url(2)];
    let config = gateway_config(dir.path(), id, id, &nodes);
    let running = start_connected(config.clone(), &drivers).await;

    backend
        .command(id, "state.get", cmd("get-1", json!({})))
        .await;
    let reply = backend.reply(id, "get-1").await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["printers"][0]["id"], "mk3s", "{reply}");

    let args = json!({"job_id": "c-unknown"});
    backend
        .command(id, "job.cancel", cmd("dup", args.clone()))
        .await;
    let first = backend.reply(id, "dup").await;
    assert_eq!(first["ok"], false, "{first}");
    backend.command(id, "job.cancel", cmd("dup", args)).await;
    let second = backend.reply(id, "dup").await;
    assert_eq!(first, second, "a repeated id must get the remembered reply");

    running.stop().await;
    backend
        .command(id, "state.get", cmd("while-away", json!({})))
        .await;
    let running = start_connected(config, &drivers).await;
    let reply = backend.reply(id, "while-away").await;
    assert_eq!(reply["ok"], true, "{reply}");
    let replies: Vec<Value> = backend
        .received()
        .into_iter()
        .filter(|s| s.topic.ends_with("/reply"))
        .map(|s| s.payload)
        .collect();
    assert!(
        replies.is_empty(),
        "unexpected further replies: {replies:?}"
    );
    running.stop().await;
}
