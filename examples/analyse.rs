//! Analyses one G-code file the way the gateway does before it queues a job (default machine
//! limits, PLA) and prints one JSON object: our estimate, the slicer's own figures from the
//! file's comments, and how long the analysis took. `benches/analysis_vs_octoprint.py` runs
//! it (in release) next to `octoprint analysis gcode`; it is also handy for profiling:
//!
//!     cargo build --release --example analyse
//!     valgrind --tool=callgrind target/release/examples/analyse FILE

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fluxprint_gateway::gcode::{self, MachineLimits, Materials};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: analyse FILE.gcode");
        return ExitCode::from(2);
    };
    let materials = Materials::default();
    let pla = materials.get("PLA").expect("PLA is a built-in material");
    let started = Instant::now();
    let analysis = match gcode::analyse_file(&path, &MachineLimits::default(), pla) {
        Ok(analysis) => analysis,
        Err(e) => {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            eprintln!("analyse: {e}: {}", cause.unwrap_or_default());
            return ExitCode::FAILURE;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let report = serde_json::json!({
        "file": path.display().to_string(),
        "bytes": bytes,
        "analysis_s": seconds,
        "mb_per_s": bytes as f64 / 1e6 / seconds,
        "estimated_time_s": analysis.estimated_time_s,
        "filament_mm": analysis.filament_total_mm(),
        "lines": analysis.lines,
        "bad_lines": analysis.bad_lines,
        "layers": analysis.layers,
        "slicer_time_s": analysis.slicer.estimated_time_s,
        "slicer_filament_mm": analysis.slicer.filament_mm,
    });
    println!("{report}");
    ExitCode::SUCCESS
}
