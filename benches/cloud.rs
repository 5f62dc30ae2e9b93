//! Cloud link benchmark against a loopback mosquitto (the test broker: TLS, client
//! certificates, ACL), with a hand-driven printer:
//!
//! 0. the floor: the same burst answered by a bare MQTT responder in place of the gateway
//!    (`floor`), what the broker and the MQTT/TLS clients alone cost on this machine;
//! 1. a burst of 1,000 `job.submit` commands from a separate client (files from a local HTTPS
//!    server that keeps connections open): replies received, lost (goal 0), reply latency
//!    p50/p99, where the time goes (`stages`); then, as extra information, the same number
//!    offered at a steady 500 commands/s;
//! 2. end-to-end latency from a printer state change to a subscriber receiving the event;
//! 3. outbox drain rate after a 10,000-event backlog built while the link was off.
//!
//!     cargo bench --bench cloud

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "cloud/floor.rs"]
mod floor;
#[path = "cloud/stages.rs"]
mod stages;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::file_server::FileServer;
use common::mosquitto::*;
use common::*;
use fluxprint_gateway::app::Running;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::domain::{PrinterId, PrinterState};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::jobs::JobStore;
use fluxprint_gateway::printer::driver::DriverReport;
use serde_json::json;

const BURST: usize = 1_000;
const STATE_CHANGES: usize = 200;
const BACKLOG: u64 = 10_000;
/// The offered rate of the second, steady run (extra information next to the burst).
const STEADY_RATE: u32 = 500;

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
    start_connected(config, drivers).await
}

/// How a run offers its commands: all at once, or one every `gap`.
#[derive(Clone, Copy)]
enum Offer {
    BackToBack,
    Steady { gap: Duration },
}

/// The burst answered by a bare responder instead of the gateway (`floor`): its p99.
async fn floor(b: &Bench, cloud: &mut Cloud) -> Duration {
    let file = FileServer::start(&b.pki, "tiny.gcode", b"G28\n".to_vec()).await;
    let responder = floor::Responder::start(&b.pki, &b.broker).await;
    println!("the floor: the same burst answered by a bare MQTT responder, no gateway");
    let p99 = submit_run(b, cloud, &file, "floor", Offer::BackToBack).await;
    responder.stop().await;
    while cloud.seen.try_recv().is_ok() {}
    p99
}

async fn burst(b: &Bench, cloud: &mut Cloud, floor_p99: Duration) {
    let file = FileServer::start(&b.pki, "tiny.gcode", b"G28\n".to_vec()).await;
    let p99 = submit_run(b, cloud, &file, "burst", Offer::BackToBack).await;
    println!(
        "  burst p99 / floor p99 = {:.2} ({:.1} ms over the floor's {:.1} ms)",
        p99.as_secs_f64() / floor_p99.as_secs_f64(),
        (p99.as_secs_f64() - floor_p99.as_secs_f64()) * 1e3,
        floor_p99.as_secs_f64() * 1e3
    );
    // Let the burst's downloads and their events finish, and forget what they sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    while cloud.seen.try_recv().is_ok() {}
    let gap = Duration::from_secs(1) / STEADY_RATE;
    println!(
        "extra information, not the goal's measurement: {BURST} commands at a steady {STEADY_RATE} commands/s"
    );
    submit_run(b, cloud, &file, "steady", Offer::Steady { gap }).await;
}

/// Sends `BURST` submissions as `offer` says and reports reply latency from each publish
/// call to the reply's arrival at the client, with the stages in between; returns the p99.
async fn submit_run(
    b: &Bench,
    cloud: &mut Cloud,
    file: &FileServer,
    run: &str,
    offer: Offer,
) -> Duration {
    let mut marks = HashMap::new();
    let cpu_before = stages::cpu(b.broker.pid());
    let started = Instant::now();
    for i in 0..BURST {
        if let Offer::Steady { gap } = offer {
            tokio::time::sleep_until((started + gap * i as u32).into()).await;
        }
        let id = format!("{run}-{i}");
        let args = json!({"job_id": format!("{run}-job-{i}"),
            "file": {"name": "tiny.gcode", "url": file.url, "sha256": file.sha256}});
        marks.insert(id.clone(), stages::Marks::now());
        cloud
            .command("job.submit", json!({"v": 1, "id": id, "args": args}), None)
            .await;
    }
    let last_sent = started.elapsed();
    let reply_topic = topic("reply");
    let mut per_topic = HashMap::<String, usize>::new();
    let (mut replies, mut last_reply) = (0, started);
    let deadline = Instant::now() + Duration::from_secs(120);
    while replies < BURST && Instant::now() < deadline {
        let Ok(Some(seen)) = tokio::time::timeout(Duration::from_secs(10), cloud.seen.recv()).await
        else {
            break;
        };
        *per_topic
            .entry(seen.topic.replace(&topic(""), ""))
            .or_default() += 1;
        let Some(m) = seen.payload["id"].as_str().and_then(|id| marks.get_mut(id)) else {
            continue;
        };
        if seen.topic == reply_topic && m.replied.is_none() {
            m.reply(seen.at, &seen.payload);
            replies += 1;
            last_reply = last_reply.max(seen.at);
        }
    }
    let elapsed = last_reply - started;
    let mut latencies: Vec<Duration> = marks
        .values()
        .filter_map(|m| Some(m.replied? - m.sent))
        .collect();
    latencies.sort();
    println!(
        "job.submit {run}: {BURST} sent, {replies} replies, {} lost, {:.0} commands/s, reply latency p50 {:?} p99 {:?}",
        BURST - replies,
        replies as f64 / elapsed.as_secs_f64(),
        stages::percentile(&latencies, 0.50),
        stages::percentile(&latencies, 0.99),
    );
    stages::report(&marks, last_sent, &per_topic);
    stages::cpu(b.broker.pid()).report_since(&cpu_before, elapsed);
    stages::percentile(&latencies, 0.99)
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
        stages::percentile(&latencies, 0.50),
        stages::percentile(&latencies, 0.99),
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
        // What a cloud backend subscribes to: the gateway's replies, events, state and
        // telemetry (one level under its prefix), not its own commands under `cmd/`.
        let mut cloud = Cloud::connect_to(&b.pki, &b.broker, "bench-cloud", &topic("+")).await;
        let floor_p99 = floor(&b, &mut cloud).await;
        drain(&b, &mut cloud, last).await;
        let drivers = HandDrivers::default();
        let running = start_gateway(&b, &drivers).await;
        state_latency(&mut cloud, &drivers).await;
        burst(&b, &mut cloud, floor_p99).await;
        running.stop().await;
    });
}
