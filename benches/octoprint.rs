//! OctoPrint driver benchmark, against a real OctoPrint (from `.venv`) and its virtual printer:
//!
//! - latency from a state change made directly on OctoPrint (pause and resume through its
//!   REST API, as someone at OctoPrint's own page would) to the gateway's printer status
//!   showing it, p50/p99 over 30 pauses and 30 resumes;
//! - the gateway's extra resident memory per OctoPrint printer (8 printers on one OctoPrint).
//!
//!     cargo bench --bench octoprint

#[path = "../tests/it/common/octoprint.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod octoprint_harness;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxprint_gateway::app;
use fluxprint_gateway::config::{
    BuildVolume, CloudConfig, Config, DriverConfig, GatewayConfig, PrinterConfig, Secret, WebConfig,
};
use fluxprint_gateway::domain::{PrinterId, PrinterState};
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gateway::{Gateway, PlacedFile};
use fluxprint_gateway::jobs::NewJob;
use fluxprint_gateway::printer::BuiltinDrivers;
use octoprint_harness::{API_KEY, OctoPrint, VirtualPrinter};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const REPETITIONS: usize = 30;
const MEMORY_PRINTERS: usize = 8;
const PATIENCE: Duration = Duration::from_secs(60);

fn octo_printer(id: &str, octo: &OctoPrint) -> PrinterConfig {
    PrinterConfig {
        id: PrinterId(id.into()),
        driver: DriverConfig::OctoPrint {
            url: octo.url(),
            api_key: Secret::new(API_KEY),
            delete_after_job: false,
            ca_file: None,
        },
        build_volume: BuildVolume {
            x_mm: 200.0,
            y_mm: 200.0,
            z_mm: 200.0,
        },
        auto_start: true,
        safety: Default::default(),
        serial: Default::default(),
    }
}

fn config(state: &Path, printers: Vec<PrinterConfig>) -> Config {
    Config {
        gateway: GatewayConfig {
            id: "gw-bench".into(),
            state_dir: state.to_path_buf(),
            log_level: "warn".into(),
        },
        web: WebConfig::default(),
        cloud: CloudConfig::default(),
        printers,
        slicer: Default::default(),
        update: Default::default(),
    }
}

async fn start(state: &Path, printers: Vec<PrinterConfig>) -> app::Running {
    let drivers = BuiltinDrivers {
        state_dir: state.to_path_buf(),
    };
    app::start(
        config(state, printers),
        Arc::new(drivers),
        CancellationToken::new(),
    )
    .await
    .expect("start the gateway")
}

async fn wait_state(gw: &Gateway, what: &str, ok: impl Fn(&PrinterState) -> bool) {
    let mut watch = gw.printers()[0].watch();
    tokio::time::timeout(PATIENCE, watch.wait_for(|s| ok(&s.state)))
        .await
        .unwrap_or_else(|_| panic!("the printer never became {what}"))
        .expect("printer actor stopped");
}

async fn submit_long_job(gw: &Gateway, dir: &Path) {
    let path = dir.join("long.gcode");
    let mut text = String::from("G90\n");
    for i in 0..50_000 {
        text.push_str(&format!("G4 P20 ; {i}\n"));
    }
    std::fs::write(&path, &text).unwrap();
    let size = text.len() as u64;
    let file = gw
        .record_file(PlacedFile {
            path,
            display_name: "long.gcode".into(),
            kind: FileKind::GcodeText,
            sha256: "0".repeat(64),
            size,
        })
        .await
        .unwrap();
    let new = NewJob {
        file_name: file.display_name.clone(),
        file: Some(file.id),
        ..NewJob::default()
    };
    gw.submit(new).await.unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn latency(octo: &OctoPrint) {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), vec![octo_printer("octo", octo)]).await;
    let gw = &running.gateway;
    wait_state(gw, "idle", |s| *s == PrinterState::Idle).await;
    submit_long_job(gw, dir.path()).await;
    wait_state(gw, "printing", |s| {
        matches!(s, PrinterState::Printing { .. })
    })
    .await;
    octo.wait_state("printing", |s| s == "Printing").await;
    let (mut pauses, mut resumes) = (Vec::new(), Vec::new());
    for _ in 0..REPETITIONS {
        pauses.push(change(octo, gw, "pause", "Paused").await);
        resumes.push(change(octo, gw, "resume", "Printing").await);
    }
    for (name, samples) in [("pause", pauses), ("resume", resumes)] {
        let (mut total, mut lag): (Vec<_>, Vec<_>) = samples.into_iter().unzip();
        total.sort();
        lag.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "OctoPrint {name}: request -> gateway status p50 {:.1} ms, p99 {:.1} ms; \
             OctoPrint's REST showing it -> gateway status p50 {:.1} ms, p99 {:.1} ms ({} runs)",
            ms(percentile(&total, 0.5)),
            ms(percentile(&total, 0.99)),
            ms(percentile(&lag, 0.5)),
            ms(percentile(&lag, 0.99)),
            total.len()
        );
    }
    let cancel = json!({"command": "cancel"});
    octo.post("api/job", cancel).await.unwrap();
    running.stop().await;
}

/// Pauses or resumes on OctoPrint directly; returns the time from the request to the
/// gateway's status, and from OctoPrint's own REST showing the new state (polled every 5 ms)
/// to the gateway's status (zero when the gateway was first).
async fn change(
    octo: &OctoPrint,
    gw: &Gateway,
    action: &str,
    octo_state: &str,
) -> (Duration, Duration) {
    let paused = octo_state == "Paused";
    let begun = Instant::now();
    let body = json!({"command": "pause", "action": action});
    assert_eq!(octo.post("api/job", body).await.unwrap().0, 204);
    let gateway = async {
        wait_state(gw, octo_state, |s| {
            matches!(s, PrinterState::Paused { .. }) == paused
                && matches!(
                    s,
                    PrinterState::Paused { .. } | PrinterState::Printing { .. }
                )
        })
        .await;
        Instant::now()
    };
    let octoprint = async {
        while octo.state().await != octo_state {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Instant::now()
    };
    let (gateway_at, octoprint_at) = tokio::join!(gateway, octoprint);
    (
        gateway_at - begun,
        gateway_at.saturating_duration_since(octoprint_at),
    )
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn memory(octo: &OctoPrint) {
    let dir = tempfile::tempdir().unwrap();
    let baseline = rss_kib();
    let printers = (0..MEMORY_PRINTERS)
        .map(|i| octo_printer(&format!("octo{i}"), octo))
        .collect();
    let running = start(dir.path(), printers).await;
    for handle in running.gateway.printers() {
        let mut watch = handle.watch();
        tokio::time::timeout(PATIENCE, watch.wait_for(|s| s.state == PrinterState::Idle))
            .await
            .expect("every printer connects")
            .unwrap();
    }
    let connected = rss_kib();
    println!(
        "RSS: {baseline} KiB before, {connected} KiB with {MEMORY_PRINTERS} OctoPrint printers \
         connected: about {} KiB per printer (includes the gateway's store and first-use \
         allocations)",
        connected.saturating_sub(baseline) / MEMORY_PRINTERS as u64
    );
    running.stop().await;
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let octo = OctoPrint::start(VirtualPrinter::default()).await;
    // A first gateway run warms up the allocator and the TLS/HTTP stacks, so the memory
    // figure below is mostly the printers' own.
    latency(&octo).await;
    memory(&octo).await;
}
