//! Journal cost (issue #12): what the resume journal costs a serial print at 300 lines/s —
//! fsyncs per minute and the gateway's CPU — measured as the difference between the same
//! 9,000 moves printed as a layered part (journaled at each layer change and every 5 s) and
//! as a flat file without layers (never journaled), on the simulated firmware over a pty.
//!
//!     cargo bench --bench journal
//!
//! Each print runs in a child process (this binary with `--print layered|flat`) under
//! `strace -f --seccomp-bpf -e trace=fsync,fdatasync -c`, which stops the child only on those
//! two calls, so every fsync of the database is counted and nothing else slows down. The
//! simulated printer runs in a grandchild (`--sim-device`), so the CPU time is the gateway's.

#[path = "common/stats.rs"]
mod stats;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxprint_gateway::app;
use fluxprint_gateway::config::{
    BuildVolume, CloudConfig, Config, DriverConfig, GatewayConfig, PrinterConfig, SafetyPolicy,
    SerialOptions, WebConfig,
};
use fluxprint_gateway::domain::{JobStatus, PrinterId};
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gateway::PlacedFile;
use fluxprint_gateway::jobs::NewJob;
use fluxprint_gateway::printer::BuiltinDrivers;
use fluxprint_gateway::printer::sim::{SimConfig, SimDevice};
use stats::cpu_time;
use tokio_util::sync::CancellationToken;

const MOVES: usize = 9_000;
/// Moves per layer: a layer every 2 s at 300 lines/s (real layers take longer: a worst case).
const PER_LAYER: usize = 600;
/// The simulated firmware takes 1 ms per line behind a 115,200 baud wire (11,520 B/s): at
/// about 38 bytes per numbered move as sent, the wire holds the print near 300 lines/s.
const LINE_LATENCY_MS: &str = "1";
const WIRE_BYTES_PER_SECOND: u32 = 11_520;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--sim-device") => return sim_device(&args[2]),
        Some("--print") => return print_in_child(&args[2]),
        _ => {}
    }
    let layered = measured("layered");
    let flat = measured("flat");
    for run in [&layered, &flat] {
        println!(
            "{:8}: {:.0} lines/s, {:.1} s; fsyncs {} = {:.1}/min; gateway CPU {:.2} s = {:.2} % of one core",
            run.name,
            run.rate,
            run.seconds,
            run.fsyncs,
            run.fsyncs as f64 * 60.0 / run.seconds,
            run.cpu,
            100.0 * run.cpu / run.seconds
        );
    }
    // Both prints store the same progress (one write per percent); the difference is the
    // journal's. Per minute of the layered print, and CPU per 1,000 lines (the two prints'
    // durations differ on a busy machine, their line counts do not).
    let journal = layered.fsyncs.saturating_sub(flat.fsyncs);
    let per_k = |r: &Measured| 1000.0 * r.cpu / MOVES as f64;
    println!(
        "journal cost at {:.0} lines/s: {journal} fsyncs per print of {} layers = {:.1}/min; \
         CPU {:.3} s per 1,000 lines layered vs {:.3} flat ({:+.3} s)",
        layered.rate,
        MOVES / PER_LAYER,
        journal as f64 * 60.0 / layered.seconds,
        per_k(&layered),
        per_k(&flat),
        per_k(&layered) - per_k(&flat),
    );
}

struct Measured {
    name: &'static str,
    rate: f64,
    seconds: f64,
    cpu: f64,
    fsyncs: u64,
}

/// Runs one print in a child under strace; reads the child's figures and strace's counts.
fn measured(name: &'static str) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("strace.txt");
    let output = Command::new("strace")
        .args([
            "-f",
            "--seccomp-bpf",
            "-qq",
            "-c",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
        ])
        .arg(&summary)
        .arg(std::env::current_exe().unwrap())
        .args(["--print", name])
        .stderr(Stdio::inherit())
        .output()
        .expect("strace is needed: apt-get install strace");
    assert!(output.status.success(), "the {name} print failed");
    let figures = String::from_utf8(output.stdout).unwrap();
    let line = figures.lines().find(|l| l.starts_with("FIGURES ")).unwrap();
    let v: Vec<f64> = line[8..].split(' ').map(|x| x.parse().unwrap()).collect();
    let fsyncs = std::fs::read_to_string(&summary)
        .unwrap()
        .lines()
        .filter(|l| l.ends_with(" fsync") || l.ends_with(" fdatasync"))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    Measured {
        name,
        rate: v[0],
        seconds: v[1],
        cpu: v[2],
        fsyncs,
    }
}

/// Grandchild: the simulated printer at `path`, until stdin closes.
fn sim_device(path: &str) {
    let config = SimConfig {
        line_latency_ms: LINE_LATENCY_MS.parse().unwrap(),
        bytes_per_second: Some(WIRE_BYTES_PER_SECOND),
        speed_up: 1000.0,
        record_commands: false,
        ..SimConfig::default()
    };
    let device = SimDevice::plug(config, PathBuf::from(path)).expect("plug");
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

fn gcode(path: &Path, layered: bool) {
    let mut g = String::from("G28\nG90\nM83\n");
    for i in 0..MOVES {
        if layered && i % PER_LAYER == 0 {
            let z = 0.2 * (i / PER_LAYER + 1) as f64;
            g.push_str(&format!(";LAYER_CHANGE\n;Z:{z:.1}\nG1 Z{z:.1}\n"));
        }
        let a = i as f64 * 0.01;
        g.push_str(&format!(
            "G1 X{:.3} Y{:.3} E0.0123\n",
            100.0 + 40.0 * a.cos(),
            100.0 + 40.0 * a.sin()
        ));
    }
    std::fs::write(path, g).unwrap();
}

/// Child: the gateway printing one file; prints `FIGURES rate seconds cpu`.
fn print_in_child(name: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (rate, seconds, cpu) = runtime.block_on(print(name == "layered"));
    println!("FIGURES {rate} {seconds} {cpu}");
}

async fn print(layered: bool) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("printer.tty");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--sim-device", link.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let file = dir.path().join("part.gcode");
    gcode(&file, layered);
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
        serial: SerialOptions::default(),
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
    let drivers = BuiltinDrivers {
        state_dir: dir.path().join("state"),
    };
    let running = app::start(config, Arc::new(drivers), CancellationToken::new())
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
    let start = Instant::now();
    let new = NewJob {
        file_name: "part.gcode".into(),
        file: Some(stored.id),
        ..NewJob::default()
    };
    let id = gw.submit(new).await.unwrap().id;
    loop {
        match gw.job(id).await.unwrap().status {
            JobStatus::Completed => break,
            JobStatus::Failed { error } => panic!("the print failed: {error}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu_before).as_secs_f64();
    drop(gw);
    running.stop().await;
    drop(child.stdin.take());
    child.wait().unwrap();
    (MOVES as f64 / seconds, seconds, cpu)
}
