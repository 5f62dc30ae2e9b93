//! Upload benchmark: a 100 MiB G-code file over loopback into a gateway started with
//! `app::start`, three times through each of `POST /api/jobs` (store, analyse for the
//! estimate, queue) and `POST /api/files/local` (the slicers' route, store only). Reports,
//! per upload, when the client had handed over the whole body (the streaming part), when the
//! 201 came (after the fsync, and for `/api/jobs` the analysis), and the process's resident
//! memory before and at its peak during the upload (sampled every 5 ms): the upload streams
//! to disk, so the peak should stay near the starting figure, not grow by 100 MiB.
//!
//! The client runs in this process too and generates the body on the fly (no 100 MiB buffer
//! on this side either). Files go under Cargo's target tmp directory, which is on disk (a
//! tmpfs would hide the writes in RAM). Everything stays on 127.0.0.1.
//!
//! `/api/jobs` analyses the G-code while it streams in (`gcode::along`; the body carries a
//! `Content-Length`), so its 201 should come within 1.5× of `/api/files/local`'s (issue #14).
//!
//! Run: `cargo bench --bench upload` (needs a quiet machine for meaningful numbers).

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;

use fluxprint_gateway::config::{Config, Secret};
use tokio_util::sync::CancellationToken;

const FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Uploads per route.
const RUNS: usize = 3;
const CHUNK_BYTES: usize = 64 * 1024;
const KEY: &str = "bench-key";
const BOUNDARY: &str = "------------------------benchboundary0001";

/// The test harness's config (listening on 127.0.0.1 only) with one printer whose driver end
/// is never answered (jobs stay queued), a key, room for the file and no rate limit.
fn config(state_dir: &std::path::Path) -> Config {
    let mut config = common::config(
        state_dir,
        vec![common::printer("bench", [250.0, 210.0, 210.0], false)],
    );
    config.web.api_key = Some(Secret::new(KEY));
    config.web.max_upload_bytes = 2 * FILE_BYTES;
    config.web.rate_limit_per_minute = 0;
    config
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// 64 KiB of G-code lines, the same every time.
fn gcode_chunk() -> Bytes {
    let mut text = String::with_capacity(CHUNK_BYTES);
    let mut i = 0u32;
    while text.len() < CHUNK_BYTES - 40 {
        text.push_str(&format!(
            "G1 X{}.{} Y{} E0.0421 F1800\n",
            i % 220,
            i % 10,
            i % 200
        ));
        i += 1;
    }
    while text.len() < CHUNK_BYTES {
        text.push('\n');
    }
    Bytes::from(text)
}

/// The multipart body as a stream: head, the file in chunks, tail, and its length (sent as
/// `Content-Length`, as curl and browsers do: the gateway then analyses G-code as it
/// arrives). `done` is set when the client takes the last piece (the server has read all but
/// what the sockets buffer).
fn body(done: Arc<Mutex<Option<Instant>>>) -> (reqwest::Body, u64) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.gcode\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let chunk = gcode_chunk();
    let chunks = FILE_BYTES / CHUNK_BYTES as u64;
    let length = head.len() as u64 + chunks * CHUNK_BYTES as u64 + tail.len() as u64;
    let last = std::iter::once_with(move || {
        *done.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Bytes::from(tail)
    });
    let parts = std::iter::once(Bytes::from(head))
        .chain((0..chunks).map(move |_| chunk.clone()))
        .chain(last)
        .map(Ok::<_, std::io::Error>);
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(parts));
    (body, length)
}

fn sample_peak(stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(rss_kib(), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

/// One upload's figures.
struct Figures {
    body_s: f64,
    response_s: f64,
    before_kib: u64,
    peak_kib: u64,
}

async fn upload(client: &reqwest::Client, url: &str) -> Figures {
    let before_kib = rss_kib();
    let peak = Arc::new(AtomicU64::new(before_kib));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(stop.clone(), peak.clone());
    let done = Arc::new(Mutex::new(None));
    let (body, length) = body(done.clone());
    let started = Instant::now();
    let response = client
        .post(url)
        .header("X-Api-Key", KEY)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("Content-Length", length)
        .body(body)
        .send()
        .await
        .expect("upload");
    let response_s = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let status = response.status();
    assert_eq!(status, 201, "{}", response.text().await.unwrap_or_default());
    let body_done = done.lock().unwrap().expect("the whole body was sent");
    Figures {
        body_s: (body_done - started).as_secs_f64(),
        response_s,
        before_kib,
        peak_kib: peak.load(Ordering::Relaxed),
    }
}

fn report(route: &str, figures: &Figures) {
    let mb = FILE_BYTES as f64 / 1_000_000.0;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{route}: body {:.2} s = {:.1} MB/s; 201 after {:.2} s = {:.1} MB/s; \
         rss {:.1} MiB -> peak {:.1} MiB (+{:.1} MiB)",
        figures.body_s,
        mb / figures.body_s,
        figures.response_s,
        mb / figures.response_s,
        mib(figures.before_kib),
        mib(figures.peak_kib),
        mib(figures.peak_kib.saturating_sub(figures.before_kib)),
    );
}

async fn run() {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let drivers = Arc::new(common::HandDrivers::default());
    let running =
        fluxprint_gateway::app::start(config(dir.path()), drivers, CancellationToken::new())
            .await
            .expect("gateway starts");
    let base = format!("http://{}", running.web_addr());
    let client = reqwest::Client::new();
    println!(
        "{:.1} MB ({} MiB) G-code per upload",
        FILE_BYTES as f64 / 1e6,
        FILE_BYTES >> 20
    );
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (i, route) in ["/api/jobs", "/api/files/local"].into_iter().enumerate() {
            let figures = upload(&client, &format!("{base}{route}")).await;
            report(route, &figures);
            times[i].push(figures.response_s);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (jobs, local) = (median(&mut times[0]), median(&mut times[1]));
    println!(
        "median 201: /api/jobs {jobs:.2} s, /api/files/local {local:.2} s: ratio {:.2} (goal <= 1.5)",
        jobs / local
    );
    running.stop().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}
