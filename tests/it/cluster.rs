//! The cloud link against a real 3-node RabbitMQ cluster (`common::rabbitmq`, started once for
//! this test binary): MQTT 3.1.1 (all RabbitMQ 3.10 speaks), certificate login, per-gateway
//! topic permissions, quorum session queues. Commands and replies across nodes, the gateway's
//! node killed while it prints (it moves on along `cloud.fallback_urls`, nothing acknowledged
//! is lost), the retained state and last will (retained messages are per node on RabbitMQ, so
//! the gateway republishes its state on every connection), and a refused topic, which RabbitMQ
//! answers by closing the connection, without a reconnect storm.

use crate::common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use common::rabbitmq::{BACKEND, Cluster};
use common::*;
use fluxprint_gateway::app::{self, Running};
use fluxprint_gateway::cloud::LinkState;
use fluxprint_gateway::config::{CloudLink, Config, LinkOptions, MqttVersion};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod commands;
mod denied;
mod node_kill;
mod will;

/// A gateway config for `id` with one hand-driven printer `mk3s`, linked to `nodes` of the
/// cluster in that order (the first is `cloud.url`, the rest `cloud.fallback_urls`).
fn gateway_config(dir: &std::path::Path, id: &str, cert_of: &str, nodes: &[url::Url]) -> Config {
    let cluster = Cluster::shared();
    let mut config = config(dir, vec![printer("mk3s", [250.0, 210.0, 210.0], true)]);
    config.gateway.id = id.into();
    let (cert_file, key_file) = cluster.pki.cert(cert_of);
    config.cloud.enabled = true;
    config.cloud.link = Some(CloudLink {
        url: nodes[0].clone(),
        fallback_urls: nodes[1..].to_vec(),
        ca_file: cluster.pki.ca.clone(),
        cert_file,
        key_file,
        options: LinkOptions {
            mqtt_version: MqttVersion::V4,
            ..LinkOptions::default()
        },
    });
    config.cloud.downloads.extra_ca_file = Some(cluster.pki.ca.clone());
    config
}

/// Starts the gateway and waits until its cloud link is connected.
async fn start_connected(config: Config, drivers: &HandDrivers) -> Running {
    let running = app::start(config, Arc::new(drivers.clone()), CancellationToken::new())
        .await
        .unwrap();
    let mut state = running.cloud.as_ref().unwrap().state.clone();
    tokio::time::timeout(PATIENCE, state.wait_for(LinkState::is_connected))
        .await
        .expect("the gateway never connected to the cluster")
        .unwrap();
    running
}

fn cmd(id: &str, args: Value) -> Value {
    serde_json::json!({"v": 1, "id": id, "args": args})
}

/// A message the backend received.
#[derive(Debug, Clone)]
struct Seen {
    topic: String,
    payload: Value,
    retain: bool,
}

/// The test's backend: an MQTT 3.1.1 client with the backend's certificate on one node.
struct Backend {
    client: AsyncClient,
    seen: mpsc::Receiver<Seen>,
    skipped: VecDeque<Seen>,
}

impl Backend {
    /// Connects to node `node` (1..=3) and subscribes to `filter`.
    async fn connect(node: usize, id: &str, filter: &str) -> Backend {
        let cluster = Cluster::shared();
        let mut options = MqttOptions::new(id, "127.0.0.1", cluster.ports[node - 1]);
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            cluster.pki.client_tls(BACKEND),
        )));
        options.set_max_packet_size(4 << 20, 4 << 20);
        // A persistent session, as docs/fleet.md asks of a backend: RabbitMQ 3.10 drops the
        // connection of a publisher whose QoS 1 publish a queue refused (a quorum queue
        // between leaders while a node dies) without a PUBACK; rumqttc then sends it again.
        options.set_clean_session(false);
        let (client, mut events) = AsyncClient::new(options, 1000);
        let (tx, seen) = mpsc::channel(100_000);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready_tx.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let seen = Seen {
                            topic: p.topic.clone(),
                            payload: serde_json::from_slice(&p.payload).unwrap_or(Value::Null),
                            retain: p.retain,
                        };
                        if tx.send(seen).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(PATIENCE, ready)
            .await
            .expect("the backend never got its SUBACK")
            .unwrap();
        Backend {
            client,
            seen,
            skipped: VecDeque::new(),
        }
    }

    async fn command(&self, gateway: &str, name: &str, payload: Value) {
        self.client
            .publish(
                format!("fluxprint/{gateway}/cmd/{name}"),
                QoS::AtLeastOnce,
                false,
                payload.to_string(),
            )
            .await
            .unwrap();
    }

    /// The oldest message satisfying `ok` (others are kept for later calls).
    async fn next(&mut self, what: &str, ok: impl Fn(&Seen) -> bool) -> Seen {
        self.take(what, ok).await.0
    }

    /// Like `next`, with the place in `skipped` the message had (or would have had).
    async fn take(&mut self, what: &str, ok: impl Fn(&Seen) -> bool) -> (Seen, usize) {
        if let Some(index) = self.skipped.iter().position(&ok) {
            return (self.skipped.remove(index).unwrap(), index);
        }
        let (seen, skipped) = (&mut self.seen, &mut self.skipped);
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(message) = seen.recv().await {
                if ok(&message) {
                    return (message, skipped.len());
                }
                skipped.push_back(message);
            }
            panic!("the backend's client stopped");
        })
        .await;
        found.unwrap_or_else(|_| panic!("the backend never saw: {what}"))
    }

    /// Waits for a message like `next`, but leaves it (and everything else) to be read.
    async fn wait_for(&mut self, what: &str, ok: impl Fn(&Seen) -> bool) {
        let (seen, index) = self.take(what, ok).await;
        self.skipped.insert(index, seen);
    }

    /// The reply to command `id` of `gateway`.
    async fn reply(&mut self, gateway: &str, id: &str) -> Value {
        let topic = format!("fluxprint/{gateway}/reply");
        self.next(&format!("the reply to {id}"), |s| {
            s.topic == topic && s.payload["id"] == id
        })
        .await
        .payload
    }

    /// Everything received so far and not yet taken (does not wait).
    fn received(&mut self) -> Vec<Seen> {
        while let Ok(message) = self.seen.try_recv() {
            self.skipped.push_back(message);
        }
        self.skipped.iter().cloned().collect()
    }
}

/// Event `seq`s of `events`, first sightings only, checked to run from 1 without a gap.
fn contiguous_seqs(events: &[Value]) -> Vec<u64> {
    let mut seqs: Vec<u64> = Vec::new();
    for event in events {
        let seq = event["seq"].as_u64().unwrap();
        if seqs.contains(&seq) {
            continue; // a QoS 1 duplicate after a reconnection
        }
        assert_eq!(
            seq,
            seqs.last().map_or(1, |last| last + 1),
            "seq {seq} after {seqs:?}"
        );
        seqs.push(seq);
    }
    seqs
}
