//! Live feed benchmark (issue 4): 200 WebSocket clients on loopback watch 500 printer state
//! changes (job progress reported by a hand driver, five jobs of 100 steps).
//!
//!     cargo bench --bench ws_latency                   # one change every 10 ms
//!     cargo bench --bench ws_latency -- --pace-ms 0    # next change as soon as one commits
//!
//! The pace keeps the offered load the same whatever the gateway's speed: with `0` a faster
//! commit means more changes per second, and the latency measured becomes queueing.
//!
//! This process is the gateway (store, printer actor, LAN server); the clients run in a child
//! process (this binary with `--clients`), so the RSS added by 200 connections is the
//! gateway's alone. Latency is from the driver sending a report to a client receiving the
//! event, on the wall clock both processes share; the report → commit part (one SQLite
//! commit with synchronous=FULL) is printed on its own. Also: time to first byte of `GET /`
//! (or `/api/status`, `/api/health`: the first that answers 200). Bounded: every wait has a
//! deadline, and everything stays on 127.0.0.1.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "common/stats.rs"]
mod stats;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluxprint_gateway::app;
use fluxprint_gateway::config::Config;
use fluxprint_gateway::domain::{JobId, JobStatus, Percent};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::gateway::Gateway;
use fluxprint_gateway::printer::driver::{DriverEnd, DriverReport, Outcome};
use futures_util::StreamExt;
use stats::{cpu_time, percentiles, rss_kib};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const CLIENTS: usize = 200;
const JOBS: i64 = 5;
const STEPS: u8 = 100;
const CHANGES: usize = JOBS as usize * STEPS as usize;
/// Longest any phase may take before the benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(180);
/// Default time between two changes (100 changes per second, far above a print farm's rate).
const PACE_MS: u64 = 10;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if args.get(1).map(String::as_str) == Some("--clients") {
        return runtime.block_on(clients(args[2].parse().unwrap()));
    }
    let pace = match args.iter().position(|a| a == "--pace-ms") {
        Some(i) => args[i + 1].parse().expect("--pace-ms takes milliseconds"),
        None => PACE_MS,
    };
    runtime.block_on(gateway(Duration::from_millis(pace)));
}

/// The test harness's config (listening on 127.0.0.1 only) with one printer that starts
/// queued jobs by itself, and an open status page (the clients connect without a key).
fn config(state_dir: &std::path::Path) -> Config {
    let mut config = common::config(
        state_dir,
        vec![common::printer("bench", [250.0, 210.0, 210.0], true)],
    );
    config.web.public_status = true;
    config
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn gateway(pace: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let hand = Arc::new(common::HandDrivers::default());
    let running = app::start(
        config(&dir.path().join("state")),
        hand.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let gw = running.gateway.clone();
    // The gateway's own LAN server.
    let addr = running.web_addr();
    first_byte(addr).await;

    let rss_before = rss_kib();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let rss_after = rss_kib();
    let added = rss_after.saturating_sub(rss_before);
    println!(
        "{CLIENTS} clients: gateway RSS {rss_before} KiB -> {rss_after} KiB (+{added} KiB, {:.1} KiB per client)",
        added as f64 / CLIENTS as f64
    );

    let end = hand.take("bench");
    let cpu_before = cpu_time();
    let sent = tokio::time::timeout(DEADLINE, drive(&gw, end, dir.path(), pace))
        .await
        .expect("driving the printer took too long");
    let cpu = (cpu_time() - cpu_before).as_millis();
    println!(
        "pace {} ms: gateway CPU while driving {cpu} ms ({:.1} us per delivery)",
        pace.as_millis(),
        cpu as f64 * 1000.0 / (CLIENTS * CHANGES) as f64
    );
    let mut stdin = child.stdin.take().unwrap();
    for ((job, progress), at) in &sent {
        writeln!(stdin, "{job} {progress} {at}").unwrap();
    }
    drop(stdin);
    for line in lines {
        println!("{}", line.unwrap());
    }
    child.wait().unwrap();
    running.stop().await;
}

/// Runs five jobs of 100 progress steps; returns when each report was sent, by (job,
/// progress). The next report goes once the previous one is committed and `pace` has passed
/// since it was sent. Prints the report → commit latencies.
async fn drive(
    gw: &Gateway,
    mut end: DriverEnd,
    dir: &std::path::Path,
    pace: Duration,
) -> HashMap<(i64, u8), u64> {
    let mut committed = gw.subscribe();
    for n in 0..JOBS {
        let new = common::job_with_file(gw, dir, &format!("job-{n}")).await;
        gw.submit(new).await.unwrap();
    }
    end.reports.send(DriverReport::Connected).await.unwrap();
    let (mut sent, mut commit_us) = (HashMap::new(), Vec::with_capacity(CHANGES));
    for _ in 0..JOBS {
        let job = common::started_job(end.commands.recv().await.unwrap());
        for step in 1..=STEPS {
            let next = tokio::time::Instant::now() + pace;
            let at = now_micros();
            let progress = Percent::new(step);
            end.reports
                .send(DriverReport::Progress { job, progress })
                .await
                .unwrap();
            sent.insert((job.0, step), at);
            wait_committed(&mut committed, job, step).await;
            commit_us.push(now_micros() - at);
            tokio::time::sleep_until(next).await;
        }
        let outcome = Outcome::Completed;
        end.reports
            .send(DriverReport::Finished { job, outcome })
            .await
            .unwrap();
    }
    let (p50, p99, max) = percentiles(&mut commit_us);
    println!("report -> commit: p50 {p50} us, p99 {p99} us, max {max} us ({CHANGES} changes)");
    sent
}

async fn wait_committed(
    events: &mut tokio::sync::broadcast::Receiver<fluxprint_gateway::events::Event>,
    job: JobId,
    step: u8,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(e) => panic!("store stopped: {e}"),
        };
        if let EventKind::JobStatus(j) = &event.kind
            && j.id == job
            && j.status
                == (JobStatus::Printing {
                    progress: Percent::new(step),
                })
        {
            return;
        }
    }
}

/// Time to first byte of the first of `/`, `/api/status`, `/api/health` that answers 200.
async fn first_byte(addr: SocketAddr) {
    for path in ["/", "/api/status", "/api/health"] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
        let start = Instant::now();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut first = [0u8; 1];
        tcp.read_exact(&mut first).await.unwrap();
        let ttfb = start.elapsed();
        let mut rest = String::new();
        tcp.read_to_string(&mut rest).await.unwrap();
        let status = rest.split_whitespace().nth(1).unwrap_or("?").to_owned();
        if status == "200" {
            println!("GET {path}: first byte after {} us", ttfb.as_micros());
            return;
        }
        println!("GET {path}: {status} (not served yet)");
    }
}

/// The child: connects every client, says READY, collects when each progress event arrived,
/// then reads the send times from stdin and prints the latencies.
async fn clients(addr: SocketAddr) {
    let url = format!("ws://{addr}/api/ws");
    let mut sockets = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let snapshot = socket.next().await.unwrap().unwrap();
        assert!(snapshot.to_text().unwrap().contains("\"snapshot\""));
        sockets.push(socket);
    }
    println!("READY");
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|s| tokio::spawn(receive(s)))
        .collect();
    let mut received = Vec::with_capacity(CLIENTS * CHANGES);
    for task in tasks {
        received.extend(task.await.unwrap());
    }
    let sent: HashMap<(i64, u8), u64> = std::io::stdin()
        .lock()
        .lines()
        .map(|line| {
            let line = line.unwrap();
            let f: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
            ((f[0] as i64, f[1] as u8), f[2])
        })
        .collect();
    let mut latencies: Vec<u64> = received
        .iter()
        .filter_map(|(key, at)| sent.get(key).map(|s| at.saturating_sub(*s)))
        .collect();
    let deliveries = latencies.len();
    let (p50, p99, max) = percentiles(&mut latencies);
    println!(
        "report -> client: p50 {p50} us, p99 {p99} us, max {max} us ({deliveries} of {} deliveries)",
        CLIENTS * CHANGES
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Every `printing` progress event one client receives, with its arrival time.
async fn receive(mut socket: Socket) -> Vec<((i64, u8), u64)> {
    let mut got = Vec::with_capacity(CHANGES);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while got.len() < CHANGES {
        let next = tokio::time::timeout_at(deadline, socket.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        let at = now_micros();
        let Ok(text) = message.to_text() else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let event = &json["event"];
        if event["type"] == "print:status-update" && event["status"] == "printing" {
            let (job, progress) = (event["gateway_job"].as_i64(), event["progress"].as_u64());
            if let (Some(job), Some(p @ 1..)) = (job, progress) {
                got.push(((job, p as u8), at));
            }
        }
    }
    got
}
