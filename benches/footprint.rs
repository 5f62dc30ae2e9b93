//! Memory footprint of the gateway process (issue #14): `VmRSS` and `RssAnon` from
//! `/proc/PID/status` of the release binary, run as operators run it (`fluxprint-gateway
//! run`, one simulated printer), against the test mosquitto with its per-run PKI:
//!
//! 1. idle without the cloud link;
//! 2. idle with the cloud link connected;
//! 3. printing (a cloud job on the simulated printer), cloud connected, 10 WebSocket clients
//!    on the LAN page's feed: the highest reading over 5 s;
//! 4. after every 10 of 100 cloud jobs (submitted by `job.submit`, downloaded over HTTPS,
//!    printed), two readings: 0.5 s after the batch (in flight: blocking threads still
//!    alive, freed memory not yet handed back) and 20.5 s after it, once the runtime's idle
//!    blocking threads have left (10 s) and the daemon's next give-back (every 10 s) has
//!    passed (kept). Flat means the last kept reading is not above the first; and once
//!    more after 15 s idle;
//! 5. a fleet: N gateway processes (default 50) on the same mosquitto, all connected: per
//!    gateway (mean and highest) and the broker.
//!
//! Run (`MALLOC_ARENA_MAX`, when set here, is passed on to the gateways):
//!
//!     cargo build --release && cargo bench --bench footprint
//!     cargo bench --bench footprint -- --fleet 0            # without the fleet
//!     cargo bench --bench footprint -- --idle               # the two idle readings only
//!     cargo bench --bench footprint -- --fleet 0 --jobs 300 # row 4 over 300 jobs
//!
//! The aarch64 build under qemu-user (FOOTPRINT_BINARY=…/aarch64-…/release/fluxprint-gateway
//! FOOTPRINT_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu") measures the emulator's own
//! memory and translated code along with the gateway's, so only differences between rows
//! mean something there (run it with `--idle`).

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "footprint/fleet.rs"]
mod fleet;
#[path = "footprint/process.rs"]
mod process;
#[path = "footprint/smaps.rs"]
mod smaps;

use std::time::{Duration, Instant};

use common::file_server::FileServer;
use common::mosquitto::{Broker, Cloud, GATEWAY, Pki};
use fluxprint_gateway::platform::memory::GIVE_BACK_EVERY;
use futures_util::StreamExt;
use process::{Gateway, KEY, Memory, Setup};
use serde_json::{Value, json};

type Mappings = std::collections::BTreeMap<u64, smaps::Mapping>;

/// Time a gateway is left alone before an "idle" reading.
const SETTLE: Duration = Duration::from_secs(3);
const PAGE_CLIENTS: usize = 10;
/// Cloud jobs of row 4 unless `--jobs N` (a multiple of `JOB_BATCH`) says otherwise.
const JOBS: usize = 100;
const JOB_BATCH: usize = 10;

fn env_passed() -> Vec<(&'static str, String)> {
    std::env::var("MALLOC_ARENA_MAX")
        .map(|v| vec![("MALLOC_ARENA_MAX", v)])
        .unwrap_or_default()
}

/// `--idle`: only the two idle readings (for the aarch64 build under qemu, where printing
/// and the jobs only measure the emulator).
fn idle_only() -> bool {
    std::env::args().any(|a| a == "--idle")
}

fn fleet_size() -> usize {
    number_after("--fleet").unwrap_or(50)
}

/// `--jobs N`: row 4 runs N cloud jobs (to see whether growth up to job 100 levels off).
fn jobs() -> usize {
    let jobs = number_after("--jobs").unwrap_or(JOBS);
    assert!(
        jobs >= JOB_BATCH && jobs % JOB_BATCH == 0,
        "--jobs: a multiple of {JOB_BATCH}"
    );
    jobs
}

fn number_after(flag: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    (args.iter().position(|a| a == flag))
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{flag} N")))
}

#[tokio::main]
async fn main() {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let dir = tempfile::Builder::new()
        .prefix("footprint-")
        .tempdir_in(std::env::var("CARGO_TARGET_TMPDIR").unwrap_or_else(|_| "target".into()))
        .unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let env = env_passed();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    println!("binary: {:?}, env {env:?}", process::binary());

    let alone = Gateway::start(
        &dir.path().join("alone"),
        &Setup {
            id: GATEWAY,
            cloud: None,
            speed_up: 20.0,
        },
        &env,
    );
    tokio::time::sleep(SETTLE).await;
    println!("1. idle, no cloud link:              {}", alone.memory());
    drop(alone);

    let (cert, key) = pki.cert(GATEWAY);
    let setup = Setup {
        id: GATEWAY,
        cloud: Some((broker.port, &pki.ca, cert, key)),
        speed_up: 20.0,
    };
    let mut cloud = Cloud::connect(&pki, &broker, "footprint-cloud").await;
    let gateway = Gateway::start(&dir.path().join("cloud"), &setup, &env);
    cloud
        .wait_for("the gateway online", |s| {
            s.topic.ends_with("/state") && s.payload["online"] == true
        })
        .await;
    tokio::time::sleep(SETTLE).await;
    println!("2. idle, cloud connected:            {}", gateway.memory());
    if idle_only() {
        return;
    }

    let printing = printing_with_clients(&gateway, &pki, &mut cloud).await;
    println!("3. printing, cloud, {PAGE_CLIENTS} page clients:  {printing} (highest over 5 s)");

    let row = hundred_jobs(&gateway, &pki, &cloud).await;
    let jobs = jobs();
    let series = |readings: &[Memory]| -> String {
        let mib: Vec<String> = (readings.iter())
            .map(|m| format!("{:.2}", m.anon_kib as f64 / 1024.0))
            .collect();
        mib.join(" ")
    };
    let growth = |readings: &[Memory]| {
        let (first, last) = (readings[0], readings[readings.len() - 1]);
        format!(
            "RSS {:+} KiB, anonymous {:+} KiB",
            last.rss_kib as i64 - first.rss_kib as i64,
            last.anon_kib as i64 - first.anon_kib as i64,
        )
    };
    let (kept, busy) = (&row.kept, &row.in_flight);
    let highest = busy.iter().fold(Memory::default(), |a, m| a.max(*m));
    println!("4. after {JOB_BATCH} cloud jobs:               {}", kept[0]);
    println!(
        "   after {jobs} cloud jobs:              {}",
        kept[kept.len() - 1]
    );
    println!(
        "   kept after each {JOB_BATCH} jobs (anonymous MiB, blocking threads gone, after a give-back): {}",
        series(kept)
    );
    println!(
        "   growth from job {JOB_BATCH} to {jobs}, kept: {}",
        growth(kept)
    );
    println!("   {}", Trend::of(kept));
    println!(
        "   in flight: {GRACE:?} after each {JOB_BATCH} jobs (anonymous MiB): {}",
        series(busy)
    );
    println!(
        "   growth from job {JOB_BATCH} to {jobs}, in flight: {}; highest {highest}",
        growth(busy)
    );
    println!(
        "   mappings whose anonymous memory changed from job {JOB_BATCH} to {jobs}, kept (/proc/PID/smaps):"
    );
    println!("{}", smaps::report(&row.mappings.0, &row.mappings.1, 32));
    // Idle threads of the runtime's blocking pool leave after 10 s; what stays is kept.
    tokio::time::sleep(Duration::from_secs(15)).await;
    println!(
        "   after {jobs} cloud jobs and 15 s idle:  {}",
        gateway.memory()
    );
    println!("   the same against job {jobs}:");
    println!(
        "{}",
        smaps::report(&row.mappings.1, &smaps::read(gateway.pid()), 32)
    );
    drop(gateway);

    let n = fleet_size();
    if n > 0 {
        fleet::run(n, dir.path(), &env).await;
    }
}

/// The least-squares line through the kept anonymous readings (one per `JOB_BATCH` jobs),
/// and how far apart the readings are: a reading moves by a few dozen KiB with where the
/// allocator's free blocks happen to lie, so the endpoints alone can show growth that is
/// only scatter, or hide a slow climb.
struct Trend {
    kib_per_100_jobs: f64,
    spread_kib: u64,
}

impl Trend {
    fn of(readings: &[Memory]) -> Trend {
        let points: Vec<(f64, f64)> = (readings.iter().enumerate())
            .map(|(i, m)| (((i + 1) * JOB_BATCH) as f64, m.anon_kib as f64))
            .collect();
        let n = points.len() as f64;
        let (mean_x, mean_y) = points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
        let (cov, var) = points.iter().fold((0.0, 0.0), |(c, v), (x, y)| {
            (c + (x - mean_x) * (y - mean_y), v + (x - mean_x).powi(2))
        });
        let slope = if var > 0.0 { cov / var } else { 0.0 };
        let anon = readings.iter().map(|m| m.anon_kib);
        Trend {
            kib_per_100_jobs: slope * 100.0,
            spread_kib: anon.clone().max().unwrap_or(0) - anon.min().unwrap_or(0),
        }
    }
}

impl std::fmt::Display for Trend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trend of the kept readings (least squares): {:+.0} KiB per 100 jobs; lowest to highest reading {} KiB",
            self.kib_per_100_jobs, self.spread_kib
        )
    }
}

/// A long cloud job printing, `PAGE_CLIENTS` WebSocket clients reading the feed: the highest
/// reading over 5 s. The job is cancelled afterwards.
async fn printing_with_clients(gateway: &Gateway, pki: &Pki, cloud: &mut Cloud) -> Memory {
    // 3,000 moves of 100 mm at 100 mm/s: minutes even at the simulator's 20× speed.
    let mut text = String::from("G28\nG90\nM83\n");
    for i in 0..3000 {
        let x = if i % 2 == 0 { 110 } else { 10 };
        text += &format!("G1 X{x} Y{} E1.0 F6000\n", 10 + i % 100);
    }
    let file = FileServer::start(pki, "long.gcode", text.into_bytes()).await;
    submit(cloud, &file, "long-job").await;
    wait_jobs(gateway, "printing", 1).await;
    let url = format!("ws://{}/api/ws", gateway.addr);
    let mut readers = Vec::new();
    for _ in 0..PAGE_CLIENTS {
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        readers.push(tokio::spawn(async move {
            let (_, mut read) = socket.split();
            while let Some(Ok(_)) = read.next().await {}
        }));
    }
    let highest = gateway.memory_over(50, Duration::from_millis(100)).await;
    for reader in readers {
        reader.abort();
    }
    let args = json!({"job_id": "long-job"});
    let command = json!({"v": 1, "id": "cancel-long-job", "args": args});
    cloud.command("job.cancel", command, None).await;
    cloud.reply("cancel-long-job").await;
    highest
}

/// [`jobs`] small cloud jobs in batches of `JOB_BATCH`, each batch printed to the end; the
/// memory after each batch, and the mappings after the first batch and after the last.
/// Row 4's readings after each batch of `JOB_BATCH` jobs.
struct JobReadings {
    /// `GRACE` after the batch's last job ended: what the jobs left in flight (blocking
    /// threads not yet gone, freed memory the allocator has not handed back yet).
    in_flight: Vec<Memory>,
    /// Once the runtime's idle blocking threads have left and the daemon's next give-back
    /// (`GIVE_BACK_EVERY`) has passed: what the gateway keeps. Growth here is what "flat"
    /// is about.
    kept: Vec<Memory>,
    /// `/proc/PID/smaps` at the first and the last kept reading.
    mappings: (Mappings, Mappings),
}

/// How long after a batch the in-flight reading is taken.
const GRACE: Duration = Duration::from_millis(500);
/// How long an idle blocking thread of the runtime stays (tokio's default, which the daemon
/// keeps); what it held is freed when it leaves.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

async fn hundred_jobs(gateway: &Gateway, pki: &Pki, cloud: &Cloud) -> JobReadings {
    let text = "G28\nG1 X50 Y50 F6000\nG1 X60 E1 F1200\n"
        .as_bytes()
        .to_vec();
    let file = FileServer::start(pki, "small.gcode", text).await;
    let started = Instant::now();
    let mut working = Duration::ZERO;
    let mut row = JobReadings {
        in_flight: Vec::new(),
        kept: Vec::new(),
        mappings: Default::default(),
    };
    let jobs = jobs();
    for batch in 0..jobs / JOB_BATCH {
        let batch_started = Instant::now();
        for i in 0..JOB_BATCH {
            submit(cloud, &file, &format!("small-{batch}-{i}")).await;
        }
        wait_jobs(gateway, "completed", (batch + 1) * JOB_BATCH).await;
        working += batch_started.elapsed();
        tokio::time::sleep(GRACE).await;
        row.in_flight.push(gateway.memory());
        // The idle blocking threads leave; then a give-back tick falls inside any window of
        // `GIVE_BACK_EVERY`.
        let settle = BLOCKING_KEEP_ALIVE + GIVE_BACK_EVERY + Duration::from_millis(500);
        tokio::time::sleep(settle - GRACE).await;
        row.kept.push(gateway.memory());
        if batch == 0 {
            row.mappings.0 = smaps::read(gateway.pid());
        }
    }
    row.mappings.1 = smaps::read(gateway.pid());
    println!(
        "   ({jobs} jobs submitted, downloaded and printed in {:.1} s of work, {:.0} s in all)",
        working.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    row
}

async fn submit(cloud: &Cloud, file: &FileServer, job_id: &str) {
    let args = json!({"job_id": job_id,
        "file": {"name": "job.gcode", "url": file.url, "sha256": file.sha256}});
    let command = json!({"v": 1, "id": format!("submit-{job_id}"), "args": args});
    cloud.command("job.submit", command, None).await;
}

/// Waits until at least `count` jobs have `status` (LAN API).
async fn wait_jobs(gateway: &Gateway, status: &str, count: usize) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Pages of at most 100, older ones by `before`.
        let (mut n, mut before) = (0, None::<i64>);
        loop {
            let older = before.map_or(String::new(), |b| format!("&before={b}"));
            let url = gateway.url(&format!("/api/jobs?status={status}&limit=100{older}"));
            let response = http.get(&url).header("X-Api-Key", KEY).send().await;
            let page: Value = response.unwrap().json().await.unwrap();
            n += page["jobs"].as_array().map_or(0, Vec::len);
            before = page["next_before"].as_i64();
            if before.is_none() {
                break;
            }
        }
        if n >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {count} jobs {status}; the gateway's log ends:\n{}",
            gateway.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
