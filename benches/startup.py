#!/usr/bin/env python3
"""Start-up time to systemd READY, idle RSS, and shutdown time of the release binary.

    cargo build --release && python3 benches/startup.py [--runs 20] [--printers 1] [--driver serial]

Starts `fluxprint-gateway run` with a fresh state directory and simulated printers, with
NOTIFY_SOCKET pointing at a datagram socket of this script, and measures (wall clock):
spawn -> READY=1, RSS (VmRSS, VmHWM) after 3 s idle, and SIGTERM -> exit. Only loopback.
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "fluxprint-gateway")


def config(state_dir, printers, driver):
    text = f'[gateway]\nid = "gw-bench"\nstate_dir = "{state_dir}"\n' \
           '[web]\nlisten = "127.0.0.1:0"\n'
    for i in range(printers):
        text += f'[[printers]]\nid = "p{i}"\nbuild_volume = [250, 210, 210]\n'
        if driver == "simulated":
            text += 'driver = "simulated"\n'
        else:
            # A serial printer that is not plugged in: the port thread retries with backoff.
            text += f'driver = "serial"\nport = "{state_dir}/no-such-tty{i}"\nbaud = 115200\n'
    return text


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def one_run(printers, idle_s, driver):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gateway.toml")
        with open(path, "w") as f:
            f.write(config(os.path.join(tmp, "state"), printers, driver))
        sock_path = os.path.join(tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, RUST_LOG="warn")
        t0 = time.perf_counter()
        proc = subprocess.Popen([BINARY, "run", "--config", path], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = None
        while ready is None:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg.split("\n"):
                ready = time.perf_counter() - t0
        time.sleep(idle_s)
        rss, hwm = vm(proc.pid, "VmRSS"), vm(proc.pid, "VmHWM")
        t1 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stop = time.perf_counter() - t1
        if code != 0:
            sys.exit(f"gateway exited {code}: {proc.stderr.read().decode()}")
        return ready, rss, hwm, stop


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--printers", type=int, default=1)
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--driver", choices=["simulated", "serial"], default="simulated",
                    help="simulated: the firmware runs inside the gateway; serial: an unplugged port")
    args = ap.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    results = [one_run(args.printers, args.idle, args.driver) for _ in range(args.runs)]
    ready = sorted(r[0] * 1000 for r in results)
    rss = sorted(r[1] for r in results)
    hwm = sorted(r[2] for r in results)
    stop = sorted(r[3] * 1000 for r in results)
    p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
    print(f"runs={args.runs} printers={args.printers} driver={args.driver}")
    print(f"start-up to READY: median {statistics.median(ready):.1f} ms, p90 {p(ready, 0.9):.1f} ms, max {ready[-1]:.1f} ms")
    print(f"idle RSS after {args.idle:.0f} s: median {statistics.median(rss) / 1024:.2f} MiB, max {rss[-1] / 1024:.2f} MiB (peak VmHWM max {hwm[-1] / 1024:.2f} MiB)")
    print(f"SIGTERM to exit: median {statistics.median(stop):.1f} ms, max {stop[-1]:.1f} ms")


if __name__ == "__main__":
    main()
