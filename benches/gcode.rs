//! G-code analysis benchmark: throughput on a ≥ 100 MB file (the cylinder fixture repeated)
//! as the gateway runs it (the moves timed on a thread of their own when the machine has a
//! second core; `taskset -c 0 cargo bench --bench gcode` gives the one-thread figure), and
//! peak memory (VmHWM) after a 10 MB and after a 100 MB file, which
//! should be the same: the analysis streams in constant memory. If OctoPrint is installed in
//! a `.venv` (this worktree's, or `FLUXPRINT_OCTOPRINT`), `octoprint analysis gcode` is
//! timed on the same file for comparison.
//!
//!     cargo bench --bench gcode

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use fluxprint_gateway::gcode::{self, MachineLimits, Materials};

const FIXTURE: &str = "tests/fixtures/gcode/cylinder.gcode";
const MB: u64 = 1_000_000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = std::fs::read(root.join(FIXTURE)).expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let small = write_repeated(dir.path(), "small.gcode", &fixture, 10 * MB);
    let large = write_repeated(dir.path(), "large.gcode", &fixture, 100 * MB);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let planning = if cores >= 2 {
        "reading and timing on two threads"
    } else {
        "one thread"
    };
    println!("G-code analysis, {planning} ({cores} cores available)");
    let before = peak_rss_kb();
    run("10 MB", &small);
    let after_small = peak_rss_kb();
    run("100 MB", &large);
    let after_large = peak_rss_kb();
    println!(
        "peak RSS (VmHWM): before {before} KiB, after 10 MB {after_small} KiB, after 100 MB {after_large} KiB (growth from 10 to 100 MB: {} KiB)",
        after_large.saturating_sub(after_small)
    );
    time_octoprint(root, &large);
}

/// Writes `piece` over and over until the file has at least `at_least` bytes.
fn write_repeated(dir: &Path, name: &str, piece: &[u8], at_least: u64) -> PathBuf {
    let path = dir.join(name);
    let mut out = BufWriter::new(File::create(&path).expect("create"));
    let mut written = 0;
    while written < at_least {
        out.write_all(piece).expect("write");
        written += piece.len() as u64;
    }
    out.flush().expect("flush");
    path
}

fn run(label: &str, path: &Path) {
    let materials = Materials::default();
    let pla = materials.get("PLA").expect("PLA");
    let bytes = std::fs::metadata(path).expect("size").len();
    let started = Instant::now();
    let analysis = gcode::analyse_file(path, &MachineLimits::default(), pla).expect("analysis");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{label}: {:.1} MB in {seconds:.3} s = {:.1} MB/s ({} lines, {:.0} s of printing estimated)",
        bytes as f64 / MB as f64,
        bytes as f64 / MB as f64 / seconds,
        analysis.lines,
        analysis.estimated_time_s
    );
}

/// This process's peak resident set size in KiB (Linux), 0 where unknown.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn time_octoprint(root: &Path, file: &Path) {
    let octoprint = std::env::var_os("FLUXPRINT_OCTOPRINT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/octoprint"));
    if !octoprint.exists() {
        println!(
            "OctoPrint not found at {} (set FLUXPRINT_OCTOPRINT): skipped",
            octoprint.display()
        );
        return;
    }
    let started = Instant::now();
    let status = Command::new(&octoprint)
        .args(["analysis", "gcode"])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => println!(
            "octoprint analysis gcode, same 100 MB file: {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Ok(s) => println!("octoprint analysis gcode failed: {s}"),
        Err(e) => println!("octoprint analysis gcode could not run: {e}"),
    }
}
