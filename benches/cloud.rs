//! Cloud link benchmark against a loopback mosquitto (the test broker: TLS, client
//! certificates, ACL), with a hand-driven printer:
//!
//! 1. a burst of 1,000 `job.submit` commands from a separate client (files from a local HTTPS
//!    server): replies received, lost (goal 0), reply latency p50/p99;
//! 2. end-to-end latency from a printer state change to a subscriber receiving the event;
//! 3. outbox drain rate after a 10,000-event backlog built while the link was off.
//!
//!     cargo bench --bench cloud

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mosquitto::*;
use common::*;
use fluxprint_gateway::app::{self, Running};
use fluxprint_gateway::cloud::LinkState;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::domain::{PrinterId, PrinterState};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::jobs::JobStore;
use fluxprint_gateway::printer::driver::DriverReport;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const BURST: usize = 1_000;
const STATE_CHANGES: usize = 200;
const BACKLOG: u64 = 10_000;

struct Bench {
    dir: tempfile::TempDir,
    pki: Pki,
    broker: Broker,
}

async fn start_gateway(b: &Bench, drivers: &HandDrivers) -> Running {
    let config = with_cloud(
        config(
            b.dir.path(),
            vec![printer("mk3s", [250.0, 210.0, 210.0], false)],
        ),
        &b.pki,
        link(&b.pki, b.broker.port, MqttVersion::V5),
    );
    let running = app::start(config, Arc::new(drivers.clone()), CancellationToken::new())
        .await
        .unwrap();
    let mut state = running.cloud.as_ref().unwrap().state.clone();
    state.wait_for(LinkState::is_connected).await.unwrap();
    running
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn burst(b: &Bench, cloud: &mut Cloud) {
    let file = FileServer::start(&b.pki, "tiny.gcode", b"G28\n".to_vec()).await;
    let mut sent = HashMap::new();
    let started = Instant::now();
    for i in 0..BURST {
        let id = format!("burst-{i}");
        let args = json!({"job_id": format!("bj-{i}"),
            "file": {"name": "tiny.gcode", "url": file.url, "sha256": file.sha256}});
        sent.insert(id.clone(), Instant::now());
        cloud
            .command("job.submit", json!({"v": 1, "id": id, "args": args}), None)
            .await;
    }
    let mut latencies = Vec::new();
    let reply_topic = topic("reply");
    let deadline = Instant::now() + Duration::from_secs(120);
    while latencies.len() < BURST && Instant::now() < deadline {
        let Ok(Some(seen)) = tokio::time::timeout(Duration::from_secs(10), cloud.seen.recv()).await
        else {
            break;
        };
        if seen.topic != reply_topic {
            continue;
        }
        if let Some(at) = seen.payload["id"].as_str().and_then(|id| sent.remove(id)) {
            latencies.push(at.elapsed());
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "job.submit burst: {BURST} sent, {} replies, {} lost, {:.0} commands/s, reply latency p50 {:?} p99 {:?}",
        latencies.len(),
        BURST - latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}

async fn state_latency(cloud: &mut Cloud, drivers: &HandDrivers) {
    let end = drivers.take("mk3s");
    let events = topic("events");
    let mut latencies = Vec::new();
    for i in 0..STATE_CHANGES {
        let (report_it, state) = if i % 2 == 0 {
            (DriverReport::Connected, "idle")
        } else {
            (
                DriverReport::Disconnected {
                    reason: "bench".into(),
                },
                "disconnected",
            )
        };
        let at = Instant::now();
        report(&end, report_it).await;
        cloud
            .next("the printer state event", |s| {
                s.topic == events
                    && s.payload["type"] == "printer:state"
                    && s.payload["state"] == state
            })
            .await;
        latencies.push(at.elapsed());
    }
    latencies.sort();
    println!(
        "printer state change -> cloud subscriber: {STATE_CHANGES} samples, p50 {:?} p99 {:?} max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().unwrap(),
    );
}

/// Builds the backlog in the gateway's database before the gateway (and its link) starts.
fn build_backlog(dir: &std::path::Path) -> u64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (store, thread) = JobStore::open(dir).unwrap();
        let last = store
            .call(|db| {
                db.write(|w| {
                    let mut last = 0;
                    for _ in 0..BACKLOG {
                        last = w.emit(EventKind::PrinterState {
                            printer: PrinterId("mk3s".into()),
                            state: PrinterState::Idle,
                        })?;
                    }
                    Ok(last)
                })
            })
            .await
            .unwrap();
        drop(store);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .unwrap();
        last
    })
}

async fn drain(b: &Bench, cloud: &mut Cloud, last: u64) {
    let drivers = HandDrivers::default();
    let started = Instant::now();
    let running = start_gateway(b, &drivers).await;
    let events = topic("events");
    cloud
        .next("the last backlog event", |s| {
            s.topic == events && s.payload["seq"].as_u64() == Some(last)
        })
        .await;
    let elapsed = started.elapsed();
    println!(
        "outbox drain: {BACKLOG} events in {elapsed:?} ({:.0} events/s, including connecting)",
        BACKLOG as f64 / elapsed.as_secs_f64()
    );
    running.stop().await;
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let b = Bench { dir, pki, broker };
    // The drain scenario needs a database with a backlog and no gateway yet: build it first.
    let last = build_backlog(b.dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut cloud = Cloud::connect(&b.pki, &b.broker, "bench-cloud").await;
        drain(&b, &mut cloud, last).await;
        let drivers = HandDrivers::default();
        let running = start_gateway(&b, &drivers).await;
        state_latency(&mut cloud, &drivers).await;
        burst(&b, &mut cloud).await;
        running.stop().await;
    });
}
