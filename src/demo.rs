//! `fluxprint-gateway demo`: a ready-to-try gateway with one simulated printer, no cloud, a
//! temporary state directory, and a sample print queued so there is something to watch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::app;
use crate::config::{
    BuildVolume, CloudConfig, Config, DriverConfig, GatewayConfig, PrinterConfig, SafetyPolicy,
    SerialOptions, WebConfig,
};
use crate::domain::PrinterId;
use crate::events::EventKind;
use crate::files::{self, FileGuard, FileKind};
use crate::gateway::{Gateway, IncomingFile, QueueRequest};
use crate::jobs::{Job, JobSource};
use crate::printer::BuiltinDrivers;
use crate::printer::sim::SimConfig;

/// Where the demo listens (DESIGN.md: "page on 127.0.0.1:8080").
pub const DEMO_LISTEN: &str = "127.0.0.1:8080";

/// The demo's configuration around `state_dir`.
pub fn config(state_dir: &Path) -> Config {
    let simulator = SimConfig {
        // Ten times real speed: a small part prints in about a minute.
        speed_up: 10.0,
        record_commands: false,
        ..SimConfig::default()
    };
    Config {
        gateway: GatewayConfig {
            state_dir: state_dir.to_path_buf(),
            ..GatewayConfig::with_id("gw-demo")
        },
        web: WebConfig {
            listen: DEMO_LISTEN.parse().expect("a valid socket address"),
            ..WebConfig::default()
        },
        cloud: CloudConfig::default(),
        printers: vec![PrinterConfig {
            id: PrinterId("demo-mk3s".into()),
            driver: DriverConfig::Simulated(simulator),
            build_volume: BuildVolume {
                x_mm: 250.0,
                y_mm: 210.0,
                z_mm: 210.0,
            },
            auto_start: false,
            safety: SafetyPolicy::default(),
            serial: SerialOptions::default(),
        }],
        slicer: Default::default(),
        update: Default::default(),
    }
}

/// A small sample part: heat, home, a few square layers, cool down.
pub fn sample_gcode() -> String {
    let mut g = String::from(
        "; FluxPrint demo part: 20 mm square, 10 layers\nM140 S60\nM104 S215\nM190 S60\nM109 S215\nG28\nG90\nM83\n",
    );
    for layer in 1..=10 {
        let z = 0.2 * f64::from(layer);
        g.push_str(&format!(";LAYER:{layer}\nG1 Z{z:.2} F600\n"));
        for (x, y) in [(110, 95), (130, 95), (130, 115), (110, 115), (110, 95)] {
            g.push_str(&format!("G1 X{x} Y{y} E0.8 F1800\n"));
        }
    }
    g.push_str("M104 S0\nM140 S0\nG1 Z30 F600\nM84\n");
    g
}

/// Runs the demo until `shutdown`; removes its state directory afterwards.
pub async fn run(shutdown: CancellationToken) -> anyhow::Result<()> {
    let state_dir = temp_state_dir()?;
    let result = run_in(&state_dir, shutdown).await;
    if let Err(e) = std::fs::remove_dir_all(&state_dir) {
        tracing::warn!(dir = %state_dir.display(), error = %e, "could not remove the demo state");
    }
    result
}

async fn run_in(state_dir: &Path, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = config(state_dir);
    let drivers = Arc::new(BuiltinDrivers {
        state_dir: state_dir.to_path_buf(),
    });
    let running = app::start(config, drivers, shutdown.clone()).await?;
    let gateway = running.gateway.clone();
    let mut events = gateway.subscribe();
    let job = queue_sample(&gateway, state_dir).await?;
    println!(
        "FluxPrint Gateway demo: one simulated printer (demo-mk3s), state in {}",
        state_dir.display()
    );
    let api_key = crate::web::load_or_generate_api_key(state_dir, None)?;
    println!("Page:    http://{}/", running.web_addr());
    println!("API key: {}", api_key.expose());
    println!(
        "Queued job {} ({}); progress follows. Ctrl-C stops the demo.",
        job.id, job.file_name
    );
    drop(gateway);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            event = events.recv() => match event {
                Ok(event) => print_event(&event.kind),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    running.stop().await;
    Ok(())
}

/// Queues the sample part the way an upload is queued: written under a temporary name in
/// the files directory, then through the gateway's intake (stored under its hash, analysed).
async fn queue_sample(gateway: &Gateway, state_dir: &Path) -> anyhow::Result<Job> {
    let files_dir = state_dir.join("files");
    std::fs::create_dir_all(&files_dir)?;
    let sample = files_dir.join(".demo-part.gcode");
    std::fs::write(&sample, sample_gcode())?;
    let guard = FileGuard::new(sample);
    let (sha256, size) = files::hash_file(guard.path()).await?;
    let file = IncomingFile {
        guard,
        display_name: "demo-part.gcode".into(),
        kind: FileKind::GcodeText,
        sha256,
        size,
        analysed: None,
    };
    let request = QueueRequest {
        options: None,
        printer: None,
        material: None,
        quality: None,
        source: JobSource::Lan,
    };
    let (_, job) = gateway.queue_file(file, request).await?;
    Ok(job)
}

fn print_event(kind: &EventKind) {
    match kind {
        EventKind::JobStatus(job) => {
            let status = job.status.as_str();
            match status {
                "printing" => println!("job {} printing {}%", job.id, job.status.progress().get()),
                "completed" => println!("job {} printed", job.id),
                _ => println!("job {} {status}", job.id),
            }
        }
        EventKind::PrinterState { printer, state } => {
            println!("printer {printer}: {}", state.as_str())
        }
        EventKind::JobRecovered { job, from } => println!(
            "job {} resumed at layer {} (Z = {} mm)",
            job.id, from.layer, from.z_mm
        ),
        EventKind::JobQueued(_)
        | EventKind::QueueReordered { .. }
        | EventKind::EventsDropped { .. }
        | EventKind::CertRenewal { .. } => {}
        EventKind::Update(_) => {}
    }
}

fn temp_state_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fluxprint-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
