//! Serial recovery benchmark (issue #12), stalls:
//!
//! - OctoPrint's own serial layer (`octoprint.util.comm.MachineCom`, driven by
//!   `serial_recovery_octoprint.py`) against the gateway, each streaming the same 3,000-line
//!   file of 0.5 mm moves to OctoPrint's VirtualPrinter on a pty with its default simulated
//!   errors (lines 100-115), a fresh printer per run, three rounds; median lines/s and ratio.
//!   Both are timed at the printer, the same way: from the first move it executes to the
//!   last (the bridge stamps each), so neither host's job start or bookkeeping counts.
//! - Time from a lost `ok` to the next line sent, on the built-in simulator, ping-pong, five
//!   lost `ok`s in a 1,000-line job: with keepalives known (`M113 S2`, Marlin's default
//!   interval) and without. The gateway measures each stall from the last sign of life
//!   (the write of the line whose `ok` is lost, or a later keepalive) to the answer that
//!   lets the next line go, so the figure is an upper bound.
//!
//!     cargo bench --bench serial_recovery

#[path = "../tests/it/common/sim.rs"]
#[allow(dead_code)] // the benchmark uses part of the test harness
mod sim;
#[path = "../tests/it/common/virtual_printer.rs"]
#[allow(dead_code)]
mod virtual_printer;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxprint_gateway::app;
use fluxprint_gateway::config::{
    BuildVolume, CloudConfig, Config, DriverConfig, FlowControlMode, GatewayConfig, PrinterConfig,
    SerialOptions, WebConfig,
};
use fluxprint_gateway::domain::{JobStatus, PrinterId, PrinterState};
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gateway::{Gateway, PlacedFile};
use fluxprint_gateway::jobs::NewJob;
use fluxprint_gateway::printer::driver::DriverFactory;
use fluxprint_gateway::printer::sim::SimConfig;
use tokio_util::sync::CancellationToken;
use virtual_printer::{PortDrivers, VirtualPrinterPeer};

const ROUNDS: usize = 3;
const PATIENCE: Duration = Duration::from_secs(600);

fn moves(head: &str, count: usize) -> String {
    let mut g = format!("G90\n{head}");
    for i in 0..count {
        g.push_str(&format!(
            "G1 X{:.1} Y10 F6000\n",
            10.0 + (i % 2) as f64 * 0.5
        ));
    }
    g
}

fn config(state: &Path, driver: DriverConfig, flow: FlowControlMode) -> Config {
    let printer = PrinterConfig {
        id: PrinterId("bench".into()),
        driver,
        build_volume: BuildVolume {
            x_mm: 250.0,
            y_mm: 210.0,
            z_mm: 210.0,
        },
        auto_start: true,
        safety: Default::default(),
        serial: SerialOptions {
            flow_control: flow,
            ..SerialOptions::default()
        },
    };
    Config {
        gateway: GatewayConfig {
            state_dir: state.join("state"),
            log_level: "warn".into(),
            ..GatewayConfig::with_id("gw-bench")
        },
        web: WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..WebConfig::default()
        },
        cloud: CloudConfig::default(),
        printers: vec![printer],
        slicer: Default::default(),
        update: Default::default(),
    }
}

/// Seconds from submitting `file` to the printer (already connected) until it completed.
async fn print_seconds(config: Config, drivers: Arc<dyn DriverFactory>, file: &Path) -> f64 {
    let running = app::start(config, drivers, CancellationToken::new())
        .await
        .expect("start the gateway");
    let gw: &Gateway = &running.gateway;
    let mut watch = gw.printers()[0].watch();
    tokio::time::timeout(PATIENCE, watch.wait_for(|s| s.state == PrinterState::Idle))
        .await
        .expect("the printer never connected")
        .unwrap();
    let size = std::fs::metadata(file).unwrap().len();
    let stored = gw
        .record_file(PlacedFile {
            path: file.to_path_buf(),
            display_name: "moves.gcode".into(),
            kind: FileKind::GcodeText,
            sha256: String::new(),
            size,
        })
        .await
        .unwrap();
    let start = Instant::now();
    let id = gw
        .submit(NewJob {
            file_name: "moves.gcode".into(),
            file: Some(stored.id),
            ..NewJob::default()
        })
        .await
        .unwrap()
        .id;
    loop {
        match gw.job(id).await.unwrap().status {
            JobStatus::Completed => break,
            JobStatus::Failed { error } => panic!("the job failed: {error}"),
            _ if start.elapsed() > PATIENCE => panic!("the job did not finish"),
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    running.stop().await;
    seconds
}

/// Moves per second at the printer, from its first executed move to its last.
fn rate(peer: &VirtualPrinterPeer) -> f64 {
    let (seconds, moves) = peer.span();
    moves.saturating_sub(1) as f64 / seconds
}

fn octoprint_rate(file: &Path) -> f64 {
    let peer = VirtualPrinterPeer::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("benches/serial_recovery_octoprint.py"))
        .arg(&peer.port)
        .arg(file)
        .output()
        .expect("run OctoPrint's MachineCom");
    assert!(
        output.status.success(),
        "MachineCom failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    rate(&peer)
}

/// The gateway on a fresh VirtualPrinter: moves/s, stalls and the stalls' total seconds.
async fn gateway_rate(dir: &Path, file: &Path) -> (f64, u64, f64) {
    let peer = VirtualPrinterPeer::start();
    let drivers = PortDrivers::default();
    let driver = DriverConfig::Serial {
        port: peer.port.clone(),
        baud: 115_200,
    };
    let state = tempfile::tempdir_in(dir).unwrap();
    let config = config(state.path(), driver, FlowControlMode::Windowed);
    print_seconds(config, Arc::new(drivers.clone()), file).await;
    let stalls = drivers.stats.stall_durations();
    (rate(&peer), stalls.count, stalls.sum)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn versus_octoprint(dir: &Path) {
    let file = dir.join("moves.gcode");
    std::fs::write(&file, moves("", 2_999)).unwrap();
    let (mut octo, mut gateway) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let o = octoprint_rate(&file);
        let (g, stalls, stalled) = gateway_rate(dir, &file).await;
        println!(
            "round {round}: OctoPrint MachineCom {o:.0} lines/s, gateway {g:.0} lines/s \
             ({stalls} stalls, {stalled:.2} s stalled)"
        );
        octo.push(o);
        gateway.push(g);
    }
    let (o, g) = (median(octo), median(gateway));
    println!(
        "median: OctoPrint {o:.0} lines/s, gateway {g:.0} lines/s, gateway/OctoPrint {:.2}x",
        g / o
    );
}

async fn lost_oks(dir: &Path, head: &str, label: &str) {
    let sim = SimConfig {
        speed_up: 1000.0,
        line_latency_ms: 0,
        lose_oks: vec![100, 300, 500, 700, 900],
        ..SimConfig::default()
    };
    let drivers = sim::SimDrivers::new(dir);
    let state = tempfile::tempdir_in(dir).unwrap();
    let config = config(
        state.path(),
        DriverConfig::Simulated(sim),
        FlowControlMode::PingPong,
    );
    let file = dir.join(format!("lost-{label}.gcode"));
    std::fs::write(&file, moves(head, 999)).unwrap();
    print_seconds(config, Arc::new(drivers.clone()), &file).await;
    let stalls = drivers.stats("bench").stall_durations();
    let longest = stalls
        .buckets
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(bound, _)| *bound)
        .fold(0.0, f64::max);
    println!(
        "lost ok -> next line sent, {label}: {} stalls, mean {:.2} s, each <= {longest} s",
        stalls.count,
        stalls.sum / stalls.count.max(1) as f64
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        versus_octoprint(dir.path()).await;
        lost_oks(dir.path(), "M113 S2\n", "keepalives known (M113 S2)").await;
        lost_oks(dir.path(), "", "no keepalives").await;
    });
}
