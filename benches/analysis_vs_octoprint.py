#!/usr/bin/env python3
"""Our G-code analysis next to OctoPrint's (`octoprint analysis gcode`), issue #7.

1. Accuracy: both estimates on the PrusaSlicer fixtures (tests/fixtures/gcode/make.sh) against
   PrusaSlicer's own "estimated printing time (normal mode)" and "filament used [mm]" (plus
   the start G-code's purge line, which PrusaSlicer leaves out of its figure).
2. Speed: a >= 100 MB file made of the cylinder fixture repeated whole (real moves, start and
   end G-code, PrusaSlicer's comments), analysed --runs times by each; wall time and peak RSS
   from /usr/bin/time -v; medians with the spread.

OctoPrint runs as its server runs it (analysis.py: printer-profile speeds 6000 mm/min, 10
extruders, bed Z 0) without the throttle it adds while printing (--throttle=0.0).

    cargo build --release --example analyse
    python3 benches/analysis_vs_octoprint.py [--runs 3] [--size-mb 100]

Our side is `target/release/examples/analyse` ($CARGO_TARGET_DIR honoured, or --analyse).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "gcode"
PARTS = ["cube", "cube_absolute", "cylinder", "tall"]
OCTOPRINT_ARGS = ["analysis", "gcode", "--speed-x=6000", "--speed-y=6000", "--max-t=10",
                  "--throttle=0.0", "--throttle-lines=100", "--bed-z=0.0"]


def ours(binary, path):
    out = subprocess.run([binary, str(path)], check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    return report["estimated_time_s"], report["filament_mm"]


def octoprint(binary, path):
    out = subprocess.run([binary, *OCTOPRINT_ARGS, str(path)], check=True,
                         capture_output=True, text=True).stdout
    minutes = float(re.search(r"^total_time: ([0-9.eE+-]+)$", out, re.M).group(1))
    lengths = re.search(r"^extrusion_length:\n((?:- .*\n)+)", out, re.M).group(1)
    filament = sum(float(v[2:]) for v in lengths.splitlines())
    # estimatedPrintTime = total_time * 60 (octoprint/filemanager/analysis.py).
    return minutes * 60, filament


def start_purge_mm(text):
    """Filament the start G-code extrudes before the first layer (E moves, M82/M83, G92)."""
    relative, e, total = False, 0.0, 0.0
    for line in text.splitlines():
        if line.startswith(";LAYER_CHANGE"):
            break
        code = line.split(";")[0].split()
        if not code:
            continue
        if code[0] in ("M83", "M82"):
            relative = code[0] == "M83"
        words = {w[0]: w[1:] for w in code[1:] if w[:1] in "EXYZF"}
        if code[0] == "G92" and "E" in words:
            e = float(words["E"] or 0)
        elif code[0] in ("G0", "G1") and words.get("E"):
            value = float(words["E"])
            delta = value if relative else value - e
            e = e + value if relative else value
            total += delta
    return total


def prusaslicer(path):
    text = path.read_text()
    time_text = re.search(r"^; estimated printing time \(normal mode\) = (.*)$", text, re.M).group(1)
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    seconds = sum(int(p[:-1]) * units[p[-1]] for p in time_text.split())
    filament = float(re.search(r"^; filament used \[mm\] = ([0-9.]+)$", text, re.M).group(1))
    return seconds, filament + start_purge_mm(text)


def accuracy(our_binary, octoprint_binary):
    print("Accuracy against PrusaSlicer 2.5 (normal mode), fixtures from tests/fixtures/gcode/make.sh")
    print(f"| part | PrusaSlicer | ours | error | OctoPrint | error | filament PS | ours | OctoPrint |")
    print("|---|---|---|---|---|---|---|---|---|")
    for part in PARTS:
        path = FIXTURES / f"{part}.gcode"
        ps_time, ps_mm = prusaslicer(path)
        our_time, our_mm = ours(our_binary, path)
        op_time, op_mm = octoprint(octoprint_binary, path)
        def err(v, ref):
            return f"{(v - ref) / ref * 100:+.2f} %"
        print(f"| {part} | {ps_time} s | {our_time:.1f} s | {err(our_time, ps_time)} | "
              f"{op_time:.1f} s | {err(op_time, ps_time)} | {ps_mm:.2f} mm | "
              f"{our_mm:.2f} ({err(our_mm, ps_mm)}) | {op_mm:.2f} ({err(op_mm, ps_mm)}) |")


def make_big(directory, size_mb):
    piece = (FIXTURES / "cylinder.gcode").read_bytes()
    copies = -(-size_mb * 1_000_000 // len(piece))
    path = Path(directory) / "big.gcode"
    with open(path, "wb") as f:
        for _ in range(copies):
            f.write(piece)
    return path, copies


def timed(command):
    """Wall seconds and peak RSS (KiB) of `command` from GNU time, and its stdout."""
    out = subprocess.run(["/usr/bin/time", "-v", *command], check=True,
                         capture_output=True, text=True)
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([0-9.]+)", out.stderr)
    hours, minutes, seconds = wall.groups()
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return elapsed, rss, out.stdout


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def speed(our_binary, octoprint_binary, size_mb, runs):
    with tempfile.TemporaryDirectory() as tmp:
        path, copies = make_big(tmp, size_mb)
        mb = path.stat().st_size / 1e6
        print(f"\nSpeed on {mb:.1f} MB ({copies} copies of cylinder.gcode), {runs} runs each, "
              f"load average before: {os.getloadavg()[0]:.2f}")
        rows = []
        for name, command in (("ours", [our_binary, str(path)]),
                              ("OctoPrint", [octoprint_binary, *OCTOPRINT_ARGS, str(path)])):
            results = [timed(command) for _ in range(runs)]
            walls = [r[0] for r in results]
            rss = [r[1] for r in results]
            estimate = ours(our_binary, path)[0] if name == "ours" else octoprint(octoprint_binary, path)[0]
            rows.append((name, walls, rss, estimate))
        print("| analyser | wall time, median (min–max) | MB/s | peak RSS | estimate for the file |")
        print("|---|---|---|---|---|")
        for name, walls, rss, estimate in rows:
            print(f"| {name} | {spread(walls, lambda v: f'{v:.2f} s')} | "
                  f"{spread([mb / w for w in walls], lambda v: f'{v:.1f}')} | "
                  f"{spread([r / 1024 for r in rss], lambda v: f'{v:.1f} MiB')} | {estimate:.0f} s |")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


def main():
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyse", default=str(target / "release" / "examples" / "analyse"))
    parser.add_argument("--octoprint", default=str(ROOT / ".venv" / "bin" / "octoprint"))
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--accuracy-only", action="store_true")
    args = parser.parse_args()
    for binary in (args.analyse, args.octoprint):
        if not Path(binary).exists():
            sys.exit(f"not found: {binary} (cargo build --release --example analyse; .venv)")
    accuracy(args.analyse, args.octoprint)
    if not args.accuracy_only:
        speed(args.analyse, args.octoprint, args.size_mb, args.runs)


if __name__ == "__main__":
    main()
