//! Time to first byte of the LAN page and the status API (issue 4): `GET /` and
//! `GET /api/status`, 1,000 requests each (after 100 to warm up), against a gateway started
//! with `app::start` with one printer and 20 queued jobs.
//!
//!     cargo bench --bench ttfb
//!
//! Each request goes on a fresh connection (as a browser opening the page would) and is timed
//! from writing the request to reading the response's first byte; the connection set-up is
//! timed on its own. The client is a plain thread with blocking sockets, outside the
//! gateway's runtime. Everything stays on 127.0.0.1.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "common/stats.rs"]
mod stats;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxprint_gateway::app;
use fluxprint_gateway::config::Config;
use fluxprint_gateway::jobs::NewJob;
use stats::percentiles;
use tokio_util::sync::CancellationToken;

const WARM_UP: usize = 100;
const REQUESTS: usize = 1_000;
const QUEUED_JOBS: usize = 20;
/// Longest one request may take before the benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(10);

/// The test harness's config (listening on 127.0.0.1 only) with one printer and an open
/// status page.
fn config(state_dir: &std::path::Path) -> Config {
    let mut config = common::config(
        state_dir,
        vec![common::printer("bench", [250.0, 210.0, 210.0], false)],
    );
    config.web.public_status = true;
    config
}

/// One request on a fresh connection: (connect, first byte after the request), microseconds.
fn request(addr: SocketAddr, path: &str) -> (u64, u64) {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).expect("connect");
    let connected = started.elapsed();
    tcp.set_read_timeout(Some(DEADLINE)).expect("timeout");
    tcp.set_nodelay(true).expect("nodelay");
    let request = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
    let sent = Instant::now();
    tcp.write_all(request.as_bytes()).expect("request");
    let mut first = [0u8; 1];
    tcp.read_exact(&mut first).expect("first byte");
    let ttfb = sent.elapsed();
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).expect("response");
    assert!(
        rest.starts_with(b"TTP/1.1 200"),
        "GET {path} did not answer 200"
    );
    (connected.as_micros() as u64, ttfb.as_micros() as u64)
}

fn measure(addr: SocketAddr, path: &str) {
    for _ in 0..WARM_UP {
        request(addr, path);
    }
    let (mut connect, mut ttfb): (Vec<u64>, Vec<u64>) =
        (0..REQUESTS).map(|_| request(addr, path)).unzip();
    let (p50, p99, max) = percentiles(&mut ttfb);
    let (c50, c99, _) = percentiles(&mut connect);
    println!(
        "GET {path}: first byte p50 {p50} us, p99 {p99} us, max {max} us \
         ({REQUESTS} requests; connect p50 {c50} us, p99 {c99} us)"
    );
}

async fn queue_jobs(running: &app::Running) {
    let jobs = (0..QUEUED_JOBS).map(|n| NewJob {
        file_name: format!("part-{n}.gcode"),
        ..NewJob::default()
    });
    for new in jobs {
        running.gateway.submit(new).await.expect("queued");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let drivers = Arc::new(common::HandDrivers::default());
    let running = runtime
        .block_on(app::start(
            config(dir.path()),
            drivers,
            CancellationToken::new(),
        ))
        .expect("gateway starts");
    runtime.block_on(queue_jobs(&running));
    let addr = running.web_addr();
    // The client runs on this thread, outside the runtime's workers.
    measure(addr, "/");
    measure(addr, "/api/status");
    runtime.block_on(running.stop());
}
