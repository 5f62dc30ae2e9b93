#!/usr/bin/env bash
# `POST /api/jobs` (store, analyse, queue) against `POST /api/files/local` (store only) of the
# same 100 MiB G-code file, and `POST /api/files/local` with `print=true` (a slicer's "Upload
# and Print": store, analyse, queue), uploaded by curl as slicers upload (multipart with a
# Content-Length), to the release binary on 127.0.0.1 (issue #14: the G-code is analysed
# while the upload streams in, so the goal is a ratio of at most 1.5). Prints every upload's
# time to the 201, the medians and their ratio, the gateway's peak RSS during each upload
# (its high-water mark, reset before each one), and how the analysis ran (`/metrics`).
#
#   cargo build --release && benches/upload_ratio.sh [runs per route, default 3]
#   UPLOAD_RATE=112M benches/upload_ratio.sh 3     # curl --limit-rate: a gigabit LAN's payload
#   UPLOAD_CPU=1 benches/upload_ratio.sh 2          # also the gateway's CPU time and context
#                                                   # switches per upload (`perf stat -p`)
#
# Over loopback curl delivers several hundred MB/s, faster than any network a Pi is on, so
# the figure measures the CPU: the analysis and the upload share the cores. UPLOAD_RATE
# (curl's --limit-rate, 1024-based suffixes) gives the uploads the pace of a real link:
# 112M is gigabit Ethernet's TCP payload (117 MB/s), the fastest a Pi 4 or 5 has.
#
# The file is the one benches/upload.rs streams (64 KiB blocks of `G1 X.. Y.. E.. F1800`
# lines), written under target/ (on disk: a tmpfs would hide the writes in RAM).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="${FOOTPRINT_BINARY:-$root/target/release/fluxprint-gateway}"
runs="${1:-3}"
rate=()
if [[ -n "${UPLOAD_RATE:-}" ]]; then
  rate=(--limit-rate "$UPLOAD_RATE")
fi
key="upload-ratio-key"
tmp="$(mktemp -d -p "$root/target" upload-ratio-XXXXXX)"
pid=""
cleanup() {
  if [[ -n "${perf_pid:-}" ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
  fi
  if [[ -n "$pid" ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 - "$tmp/bench.gcode" <<'PY'
import sys
chunk, i = [], 0
size = 0
while size < 64 * 1024 - 40:
    line = f"G1 X{i % 220}.{i % 10} Y{i % 200} E0.0421 F1800\n"
    chunk.append(line)
    size += len(line)
    i += 1
block = ("".join(chunk) + "\n" * (64 * 1024 - size)).encode()
with open(sys.argv[1], "wb") as f:
    for _ in range(1600):
        f.write(block)
PY

# A serial printer that is not plugged in: jobs stay queued, nothing prints meanwhile.
cat > "$tmp/gateway.toml" <<EOF
[gateway]
id = "gw-upload"
state_dir = "$tmp/state"
[web]
listen = "127.0.0.1:0"
api_key = "$key"
rate_limit_per_minute = 0
max_upload_bytes = 209715200
[[printers]]
id = "p0"
driver = "serial"
port = "$tmp/no-such-tty"
build_volume = [250, 210, 210]
EOF

RUST_LOG=info "$binary" run --config "$tmp/gateway.toml" > "$tmp/gateway.log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 200); do
  addr="$(grep -o 'listening addr=[0-9.:]*' "$tmp/gateway.log" | head -1 | cut -d= -f2 || true)"
  [[ -n "$addr" ]] && break
  sleep 0.05
done
[[ -n "$addr" ]] || { cat "$tmp/gateway.log"; exit 1; }

# A route, optionally followed by "print": `POST /api/files/local` as PrusaSlicer's "Upload
# and Print" sends it (`print=true` and `path` before the file).
upload() {
  local parts=()
  [[ "${2:-}" == print ]] && parts=(-F print=true -F path=)
  curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "X-Api-Key: $key" "${rate[@]}" \
    "${parts[@]}" -F "file=@$tmp/bench.gcode;filename=bench.gcode" "http://$addr$1"
}

# With UPLOAD_CPU=1: what the gateway's threads (including the analysis threads an upload
# starts) used during one upload, counted by `perf stat` attached to the gateway.
perf_pid=""
cpu_start() {
  [[ "${UPLOAD_CPU:-}" == 1 ]] || return 0
  command -v perf >/dev/null || { echo "UPLOAD_CPU=1 needs perf (apt-get install linux-perf)"; exit 1; }
  perf stat -x, -e task-clock,context-switches -p "$pid" -o "$tmp/perf.csv" &
  perf_pid=$!
  sleep 0.2
}
cpu_report() {
  [[ -n "$perf_pid" ]] || return 0
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  perf_pid=""
  awk -F, '$3 == "task-clock" {ms = $1} $3 == "context-switches" {cs = $1}
    END {printf "  gateway CPU %.0f ms, %d context switches\n", ms, cs}' "$tmp/perf.csv"
}

# The gateway's resident set now and at its highest since the last reset, in MiB; writing 5
# to clear_refs resets the high-water mark (Linux >= 4.0), so each upload's peak is its own.
rss() { awk '$1 == "VmRSS:" {now = $2} $1 == "VmHWM:" {peak = $2}
  END {printf "%.1f %.1f", now / 1024, peak / 1024}' "/proc/$pid/status"; }
peak_reset() { echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true; }

declare -A times
for run in $(seq "$runs"); do
  for request in /api/jobs /api/files/local "/api/files/local print"; do
    cpu_start
    peak_reset
    read -r idle _ <<<"$(rss)"
    # shellcheck disable=SC2086 # the route and its "print" are two words
    out="$(upload $request)"
    code="${out%% *}"
    seconds="${out#* }"
    [[ "$code" == 201 ]] || { echo "$request answered $code"; exit 1; }
    read -r _ peak <<<"$(rss)"
    echo "run $run $request: 201 after $seconds s, peak RSS $peak MiB ($idle before)"
    cpu_report
    times[$request]+="$seconds "
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
jobs="$(median "${times[/api/jobs]}")"
local_="$(median "${times[/api/files/local]}")"
print="$(median "${times[/api/files/local print]}")"
echo "curl upload rate: ${UPLOAD_RATE:-unlimited}"
awk -v j="$jobs" -v l="$local_" 'BEGIN{printf "median: /api/jobs %.2f s, /api/files/local %.2f s, ratio %.2f (goal <= 1.5)\n", j, l, j / l}'
awk -v p="$print" -v l="$local_" 'BEGIN{printf "median: /api/files/local with print=true %.2f s, ratio to storing only %.2f\n", p, p / l}'
curl -s -H "X-Api-Key: $key" "http://$addr/metrics" | grep '^fluxprint_gcode_uploads_analysed_total' || true
