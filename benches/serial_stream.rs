//! Streaming benchmark (issue: serial driver): a 50,000-segment G-code file streamed by the
//! real serial driver to the simulated Marlin firmware over a pseudo-terminal.
//!
//!     cargo bench --bench serial_stream                 # all scenarios
//!     cargo bench --bench serial_stream -- wire         # one: wire | processing | link
//!
//! The simulator runs in a child process (this binary with `--sim-device`), so the CPU time
//! and RSS measured are the gateway's alone. Everything stays on a local pty.

#[path = "common/stats.rs"]
mod stats;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxprint_gateway::app;
use fluxprint_gateway::config::{
    BuildVolume, CloudConfig, Config, DriverConfig, FlowControlMode, GatewayConfig, PrinterConfig,
    SafetyPolicy, SerialOptions, WebConfig,
};
use fluxprint_gateway::domain::{JobStatus, PrinterId};
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gateway::PlacedFile;
use fluxprint_gateway::jobs::NewJob;
use fluxprint_gateway::printer::builtin::{port_settings, start_serial};
use fluxprint_gateway::printer::driver::{DriverError, DriverFactory, DriverLink};
use fluxprint_gateway::printer::serial::SerialStats;
use fluxprint_gateway::printer::sim::{SimConfig, SimDevice};
use stats::{cpu_time, rss_kib};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const SEGMENTS: usize = 50_000;

struct Scenario {
    name: &'static str,
    bytes_per_second: u32,
    line_latency_ms: u64,
    link_latency_ms: u64,
    flow: FlowControlMode,
}

struct Run {
    seconds: f64,
    lines: u64,
    bytes: u64,
    cpu_seconds: f64,
    peak_rss_kib: u64,
    resends: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--sim-device") {
        return sim_device(&args[2..]);
    }
    let only = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if want("wire") {
        let s = scenario("wire", 11_520, 1, 0, FlowControlMode::Windowed);
        let run = runtime.block_on(stream(&s));
        let bytes_per_line = run.bytes as f64 / run.lines as f64;
        let limit = f64::from(s.bytes_per_second) / bytes_per_line;
        let rate = run.lines as f64 / run.seconds;
        println!(
            "wire-bound (115200 baud = 11520 B/s, windowed): {rate:.1} lines/s; wire limit {limit:.1} lines/s at {bytes_per_line:.1} B/line as sent => {:.1} % of the wire",
            100.0 * rate / limit
        );
        println!(
            "  gateway CPU {:.2} s over {:.1} s = {:.2} % of one core; peak RSS {:.1} MiB; resends {}",
            run.cpu_seconds,
            run.seconds,
            100.0 * run.cpu_seconds / run.seconds,
            run.peak_rss_kib as f64 / 1024.0,
            run.resends
        );
    }
    for (name, line, link) in [("processing", 1, 0), ("link", 0, 1)] {
        if !want(name) {
            continue;
        }
        let windowed = runtime.block_on(stream(&scenario(
            name,
            0,
            line,
            link,
            FlowControlMode::Windowed,
        )));
        let ping_pong = runtime.block_on(stream(&scenario(
            name,
            0,
            line,
            link,
            FlowControlMode::PingPong,
        )));
        let (w, p) = (
            windowed.lines as f64 / windowed.seconds,
            ping_pong.lines as f64 / ping_pong.seconds,
        );
        println!(
            "{name} latency (line_latency_ms={line}, link_latency_ms={link}, no baud limit): windowed {w:.0} lines/s, ping-pong {p:.0} lines/s => {:.2}x",
            w / p
        );
    }
}

fn scenario(
    name: &'static str,
    bytes_per_second: u32,
    line_latency_ms: u64,
    link_latency_ms: u64,
    flow: FlowControlMode,
) -> Scenario {
    Scenario {
        name,
        bytes_per_second,
        line_latency_ms,
        link_latency_ms,
        flow,
    }
}

/// Child mode: plug a simulated printer at the given path and serve until stdin closes.
fn sim_device(args: &[String]) {
    let config = SimConfig {
        bytes_per_second: args[1].parse::<u32>().ok().filter(|b| *b > 0),
        line_latency_ms: args[2].parse().unwrap(),
        link_latency_ms: args[3].parse().unwrap(),
        // Short segments must not be motion-bound: the benchmark measures the host.
        speed_up: 1000.0,
        record_commands: false,
        ..SimConfig::default()
    };
    let device = SimDevice::plug(config, PathBuf::from(&args[0])).expect("plug");
    println!("READY");
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    while std::io::stdin()
        .read_line(&mut sink)
        .map(|n| n > 0)
        .unwrap_or(false)
    {}
    device.stop();
}

fn gcode(path: &Path) {
    let mut g = String::from("G28\nG90\nM83\n");
    for i in 0..SEGMENTS {
        let a = i as f64 * 0.01;
        g.push_str(&format!(
            "G1 X{:.3} Y{:.3} E0.0123\n",
            100.0 + 40.0 * a.cos(),
            100.0 + 40.0 * a.sin()
        ));
    }
    std::fs::write(path, g).unwrap();
}

struct Factory(Arc<SerialStats>);

impl DriverFactory for Factory {
    fn start(
        &self,
        printer: &PrinterConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError> {
        let DriverConfig::Serial { port, baud } = &printer.driver else {
            unreachable!()
        };
        let mut settings = port_settings(printer, port.clone(), *baud);
        settings.stats = self.0.clone();
        Ok(start_serial(settings, shutdown, tasks).unwrap())
    }
}

async fn stream(s: &Scenario) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("printer.tty");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--sim-device", link.to_str().unwrap()])
        .args([
            s.bytes_per_second.to_string(),
            s.line_latency_ms.to_string(),
            s.link_latency_ms.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let file = dir.path().join("part.gcode");
    gcode(&file);

    let stats = Arc::new(SerialStats::default());
    let printer = PrinterConfig {
        id: PrinterId("bench".into()),
        driver: DriverConfig::Serial {
            port: link,
            baud: 115_200,
        },
        build_volume: BuildVolume {
            x_mm: 250.0,
            y_mm: 210.0,
            z_mm: 210.0,
        },
        auto_start: true,
        safety: SafetyPolicy::default(),
        serial: SerialOptions {
            flow_control: s.flow,
            ..SerialOptions::default()
        },
    };
    let config = Config {
        gateway: GatewayConfig {
            state_dir: dir.path().join("state"),
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
    };
    let running = app::start(
        config,
        Arc::new(Factory(stats.clone())),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let gw = running.gateway.clone();
    let size = std::fs::metadata(&file).unwrap().len();
    let stored = gw
        .record_file(PlacedFile {
            path: file,
            display_name: "part.gcode".into(),
            kind: FileKind::GcodeText,
            sha256: String::new(),
            size,
        })
        .await
        .unwrap();
    let cpu_before = cpu_time();
    let before = stats.snapshot();
    let start = Instant::now();
    let id = gw
        .submit(NewJob {
            file_name: "part.gcode".into(),
            file: Some(stored.id),
            ..NewJob::default()
        })
        .await
        .unwrap()
        .id;
    let mut peak_rss_kib = 0;
    loop {
        peak_rss_kib = peak_rss_kib.max(rss_kib());
        match gw.job(id).await.unwrap().status {
            JobStatus::Completed => break,
            JobStatus::Failed { error } => panic!("{} failed: {error}", s.name),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = (cpu_time() - cpu_before).as_secs_f64();
    let after = stats.snapshot();
    drop(gw);
    running.stop().await;
    drop(child.stdin.take());
    child.wait().unwrap();
    Run {
        seconds,
        lines: after.lines_acked - before.lines_acked,
        bytes: after.bytes_written - before.bytes_written,
        cpu_seconds,
        peak_rss_kib,
        resends: after.resend_requests,
    }
}
