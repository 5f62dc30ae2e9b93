#!/usr/bin/python3
"""Fleet benchmark (issue #17): N gateway processes, one simulated printer each, against one
mosquitto or the 3-node RabbitMQ cluster (tests/peers/rabbitmq/rabbitmq_cluster.sh), with a
backend that submits jobs to every gateway over MQTT, clears beds, replays `seq` gaps
(`events.replay`) and acknowledges events (`events.ack`).

    /usr/bin/python3 benches/fleet.py --broker mosquitto|cluster [--gateways 50] [--jobs 2]
        [--kill-node 3] [--idle-s 30] [--out FILE.json]

Prints one JSON document: commands, replies, duplicate replies, events, duplicate events,
seq gaps seen and still missing after replays, jobs completed/failed, time until every job
ended, 503s served by the file server (the thundering herd), per-gateway RSS and CPU, broker
RSS, messages and bytes per gateway per hour idle and printing, and with --kill-node the
reconnect times (kill -9 of that node mid-run to the gateway's next `state`) p50/p99.

Needs: target/release/fluxprint-gateway (cargo build --release), mosquitto or
rabbitmq-server, openssl, python3-paho-mqtt (/usr/bin/python3: the venv has no paho).
Everything listens on 127.0.0.1; everything it starts is stopped at the end.
"""

import argparse
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import faulthandler

import paho.mqtt.client as mqtt

faulthandler.register(signal.SIGUSR1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("FLEET_GATEWAY_BINARY",
                        os.path.join(ROOT, "target", "release", "fluxprint-gateway"))
CLUSTER = os.path.join(ROOT, "tests", "peers", "rabbitmq", "rabbitmq_cluster.sh")
BACKEND = "cloud-backend"
# The overloaded file server: more requests than this at once get 503 (an origin behind a
# CDN under a thundering herd); the gateways must get through with their jittered retries.
FILE_SERVER_SLOTS = 8
# Backend session: RabbitMQ's session queue for it lives on one node; mosquitto needs its
# queue raised for a subscriber to the whole fleet (default 1000 drops silently).
MOSQUITTO_MAX_QUEUED = 1_000_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


# ---- PKI (EC keys: fast to make for 200 gateways) ----------------------------------------

def make_pki(d, names):
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=fleet-ca",
         "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def leaf(cn, ext):
        run(["openssl", "req", *ec, "-subj", f"/CN={cn}", "-keyout", f"{d}/{cn}.key",
             "-out", f"{d}/{cn}.csr"])
        with open(f"{d}/{cn}.ext", "w") as f:
            f.write(ext)
        run(["openssl", "x509", "-req", "-in", f"{d}/{cn}.csr", "-CA", f"{d}/ca.pem",
             "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", f"{d}/{cn}.ext", "-out", f"{d}/{cn}.pem"])
        # PKCS#8 for every client (rustls, erlang and paho all read it)
        run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", f"{d}/{cn}.key",
             "-out", f"{d}/{cn}.key.p8"])
        os.replace(f"{d}/{cn}.key.p8", f"{d}/{cn}.key")

    leaf("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth,clientAuth\n")
    for cn in names:
        leaf(cn, "extendedKeyUsage=clientAuth\n")


# ---- brokers ------------------------------------------------------------------------------

class Mosquitto:
    def __init__(self, d, pki):
        self.port = free_port()
        self.urls = [f"mqtts://127.0.0.1:{self.port}"]
        with open(f"{d}/acl", "w") as f:
            f.write(f"user {BACKEND}\ntopic readwrite #\n\n"
                    "pattern read fluxprint/%u/cmd/#\npattern write fluxprint/%u/#\n")
        user = "user root\n" if os.geteuid() == 0 else ""
        with open(f"{d}/mosquitto.conf", "w") as f:
            f.write(f"{user}per_listener_settings false\nallow_anonymous false\n"
                    f"acl_file {d}/acl\nlog_dest none\n"
                    f"max_queued_messages {MOSQUITTO_MAX_QUEUED}\nmax_inflight_messages 100\n"
                    f"listener {self.port} 127.0.0.1\ncafile {pki}/ca.pem\n"
                    f"certfile {pki}/server.pem\nkeyfile {pki}/server.key\n"
                    "require_certificate true\nuse_identity_as_username true\n"
                    "set_tcp_nodelay true\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", f"{d}/mosquitto.conf"])
        wait_port(self.port)

    def pids(self):
        return [self.proc.pid]

    def node_of(self, i):
        return 1

    def backend_port(self):
        return self.port

    def kill9(self, n):
        raise SystemExit("--kill-node needs --broker cluster")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Cluster:
    def __init__(self, d, pki, gateways):
        self.dir = f"{d}/cluster"
        env = dict(os.environ, RMQ_CA=f"{pki}/ca.pem", RMQ_SERVER_CERT=f"{pki}/server.pem",
                   RMQ_SERVER_KEY=f"{pki}/server.key", RMQ_GATEWAYS=" ".join(gateways),
                   RMQ_BACKEND=BACKEND, RMQ_BASE_PORT=str(free_base()))
        t = time.time()
        out = run([CLUSTER, "start", self.dir], env=env).stdout
        self.start_s = time.time() - t
        self.values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.ports = [int(self.values[f"RMQ_NODE{n}_MQTTS_PORT"]) for n in (1, 2, 3)]

    def urls_for(self, i):
        """Gateway i's nodes: its own first (i % 3), then the others in order."""
        first = i % 3
        order = [first] + [n for n in range(3) if n != first]
        return [f"mqtts://127.0.0.1:{self.ports[n]}" for n in order]

    def node_of(self, i):
        return i % 3 + 1

    def backend_port(self):
        return self.ports[0]  # node 1 is never killed by --kill-node (2 or 3)

    def pids(self):
        pids = []
        for n in (1, 2, 3):
            try:
                with open(f"{self.dir}/n{n}/beam.pid") as f:
                    pids.append(int(f.read().strip()))
            except OSError:
                pass
        return pids

    def kill9(self, n):
        run([CLUSTER, "kill9", self.dir, str(n)])

    def restart(self, n):
        run([CLUSTER, "restart", self.dir, str(n)])

    def stop(self):
        subprocess.run([CLUSTER, "stop", self.dir], capture_output=True)


def free_base():
    for _ in range(50):
        base = free_port()
        if base > 65000 - 40:
            continue
        ok = True
        for p in range(base, base + 40):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise SystemExit("no 40 free consecutive ports")


def wait_port(port, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


# ---- file server (HTTPS, overloaded on purpose) -------------------------------------------

def gcode(moves):
    lines = ["; fleet benchmark part", "G28", "G90", "G1 Z0.3 F600"]
    for i in range(moves):
        x = 50 + 40 * ((i % 2) * 2 - 1) * 0.5
        y = 50 + (i % 40)
        lines.append(f"G1 X{x:.1f} Y{y:.1f} E{i * 0.05:.2f} F3000")
    return ("\n".join(lines) + "\n").encode()


def start_file_server(pki, content):
    stats = {"ok": 0, "busy": 0}
    slots = threading.BoundedSemaphore(FILE_SERVER_SLOTS)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if not slots.acquire(blocking=False):
                with lock:
                    stats["busy"] += 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            try:
                time.sleep(0.2)  # a slow origin: each download holds its slot a while
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                with lock:
                    stats["ok"] += 1
            finally:
                slots.release()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{pki}/server.pem", f"{pki}/server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, stats


# ---- gateways -----------------------------------------------------------------------------

def gateway_config(d, gw, urls, pki, speed_up):
    state = f"{d}/{gw}"
    os.makedirs(state, exist_ok=True)
    fallbacks = ", ".join(f'"{u}"' for u in urls[1:])
    path = f"{state}/gateway.toml"
    with open(path, "w") as f:
        f.write(f"""[gateway]
id = "{gw}"
state_dir = "{state}"
log_level = "warn"

[web]
listen = "127.0.0.1:0"

[cloud]
enabled = true
url = "{urls[0]}"
fallback_urls = [{fallbacks}]
ca_file = "{pki}/ca.pem"
cert_file = "{pki}/{gw}.pem"
key_file = "{pki}/{gw}.key"
mqtt_version = 4

[cloud.downloads]
extra_ca_file = "{pki}/ca.pem"

[[printers]]
id = "sim"
driver = "simulated"
build_volume = [200, 200, 200]
auto_start = true
[printers.simulator]
speed_up = {speed_up}
record_commands = false
""")
    return path


def proc_stats(pid):
    """(RSS bytes, CPU seconds) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return rss, cpu
    except (OSError, StopIteration):
        return None


# ---- backend ------------------------------------------------------------------------------

class Backend:
    """Subscribes to the whole fleet, submits jobs, clears beds, replays gaps, acks."""

    def __init__(self, port, pki, gateways, jobs, file_url, sha):
        self.gateways, self.jobs, self.file_url, self.sha = gateways, jobs, file_url, sha
        self.lock = threading.RLock()
        self.sent = 0
        self.replies = {}        # command id -> count
        self.events = {g: set() for g in gateways}
        self.duplicate_events = 0
        self.gaps_seen = 0
        self.ended = {}          # (gw, job_id) -> status
        self.online_at = {g: [] for g in gateways}  # times of `state` online=true
        self.traffic = []        # (time, bytes) of every gateway publish
        self.client = mqtt.Client(client_id="fleet-backend", clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.tls_set(ca_certs=f"{pki}/ca.pem", certfile=f"{pki}/{BACKEND}.pem",
                            keyfile=f"{pki}/{BACKEND}.key")
        self.client.max_inflight_messages_set(100)
        self.client.on_message = self.on_message
        self.client.on_connect = lambda c, u, f, rc: c.subscribe(
            [("fluxprint/+/events", 1), ("fluxprint/+/reply", 1), ("fluxprint/+/state", 1),
             ("fluxprint/+/telemetry", 0)])
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def command(self, gw, name, payload):
        with self.lock:
            self.sent += 1
        self.client.publish(f"fluxprint/{gw}/cmd/{name}", json.dumps(payload), qos=1)

    def submit_all(self, name):
        for n in range(self.jobs):
            for gw in self.gateways:
                job = f"{gw}-j{n}"
                self.command(gw, "job.submit", {"v": 1, "id": f"submit-{job}", "args": {
                    "job_id": job, "file": {"name": name, "url": self.file_url,
                                            "sha256": self.sha}}})

    def on_message(self, client, userdata, msg):
        now = time.time()
        parts = msg.topic.split("/")
        gw, kind = parts[1], parts[2]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        out = []
        with self.lock:
            self.traffic.append((now, len(msg.payload) + len(msg.topic)))
            if kind == "reply":
                self.replies[body.get("id")] = self.replies.get(body.get("id"), 0) + 1
            elif kind == "state" and body.get("online"):
                self.online_at[gw].append(now)
            elif kind == "events":
                out = self.on_event(gw, body)
        for gw, name, payload in out:  # published outside the lock
            self.command(gw, name, payload)

    def on_event(self, gw, e):
        """Books one event; returns the commands it calls for (a replay, a bed clear)."""
        seq, seen, out = e["seq"], self.events[gw], []
        if seq in seen:
            self.duplicate_events += 1
            return out
        top = max(seen, default=0)
        seen.add(seq)
        if seq > top + 1:
            self.gaps_seen += 1
            out.append((gw, "events.replay",
                        {"v": 1, "id": f"replay-{gw}-{seq}", "args": {"from": top + 1}}))
        status, job = e.get("status"), e.get("job_id")
        if job and status in ("completed", "failed", "cancelled") and (gw, job) not in self.ended:
            self.ended[(gw, job)] = status
            if status == "completed":
                out.append((gw, "printer.bed-cleared",
                            {"v": 1, "id": f"clear-{job}", "printer": "sim", "args": {}}))
        return out

    def missing(self):
        """Event seqs below each gateway's highest one that never arrived."""
        with self.lock:
            return sum(max(s, default=0) - len(s) for s in self.events.values())

    def ack_all(self):
        with self.lock:
            for gw, seen in self.events.items():
                if seen:
                    self.command(gw, "events.ack",
                                 {"v": 1, "id": f"ack-{gw}-{max(seen)}", "args": {"seq": max(seen)}})

    def rate(self, since, until):
        with self.lock:
            picked = [b for t, b in self.traffic if since <= t < until]
        span_h = (until - since) / 3600
        n = len(self.gateways)
        return {"messages_per_gateway_hour": round(len(picked) / n / span_h),
                "bytes_per_gateway_hour": round(sum(picked) / n / span_h)}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", choices=["mosquitto", "cluster"], default="mosquitto")
    ap.add_argument("--gateways", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--moves", type=int, default=150)
    ap.add_argument("--speed-up", type=float, default=2.0)
    ap.add_argument("--idle-s", type=float, default=30)
    ap.add_argument("--kill-node", type=int, choices=[2, 3])
    ap.add_argument("--deadline-s", type=float, default=1200)
    ap.add_argument("--out")
    a = ap.parse_args()
    if not os.access(BINARY, os.X_OK):
        raise SystemExit(f"{BINARY} missing: cargo build --release")

    d = tempfile.mkdtemp(prefix="fluxprint-fleet-")
    gateways = [f"gw-{i:04d}" for i in range(a.gateways)]
    t0 = time.time()
    make_pki(f"{d}/pki", gateways + [BACKEND])
    pki = f"{d}/pki"
    broker = Mosquitto(d, pki) if a.broker == "mosquitto" else Cluster(d, pki, gateways)
    content = gcode(a.moves)
    server, served = start_file_server(pki, content)
    file_url = f"https://127.0.0.1:{server.server_address[1]}/part.gcode"
    backend = Backend(broker.backend_port(), pki, gateways, a.jobs, file_url,
                      hashlib.sha256(content).hexdigest())
    procs, result = {}, {"broker": a.broker, "gateways": a.gateways, "jobs_per_gateway": a.jobs}
    try:
        for i, gw in enumerate(gateways):
            urls = broker.urls if a.broker == "mosquitto" else broker.urls_for(i)
            cfg = gateway_config(d, gw, urls, pki, a.speed_up)
            logfile = open(f"{d}/{gw}/log", "w")
            procs[gw] = subprocess.Popen([BINARY, "run", "--config", cfg], stdout=logfile,
                                         stderr=subprocess.STDOUT)
        end = time.time() + 120
        while time.time() < end and sum(bool(v) for v in backend.online_at.values()) < a.gateways:
            time.sleep(0.5)
        online = sum(bool(v) for v in backend.online_at.values())
        log(f"{online}/{a.gateways} gateways online ({d})")
        result["online_after_start"] = online
        result["start_s"] = round(time.time() - t0, 1)

        idle_from = time.time()
        time.sleep(a.idle_s)
        result["idle"] = backend.rate(idle_from, time.time())

        submitted = time.time()
        backend.submit_all("part.gcode")
        total = a.gateways * a.jobs
        killed, last_log = None, 0
        while time.time() - submitted < a.deadline_s and len(backend.ended) < total:
            if a.kill_node and killed is None and len(backend.ended) >= total // 4:
                killed = time.time()
                broker.kill9(a.kill_node)
                log(f"killed node {a.kill_node}")
            time.sleep(0.5)
            if time.time() - last_log >= 10:
                last_log = time.time()
                log(f"{len(backend.ended)}/{total} jobs ended, {len(backend.replies)} replies, "
                    f"{sum(len(s) for s in backend.events.values())} events")
        all_ended = time.time()
        result["printing"] = backend.rate(submitted, all_ended)
        result["time_until_every_job_ended_s"] = round(all_ended - submitted, 1)
        statuses = list(backend.ended.values())
        result["jobs_completed"] = statuses.count("completed")
        result["jobs_failed"] = statuses.count("failed")
        result["jobs_not_ended"] = total - len(statuses)
        if killed:
            moved = [gw for i, gw in enumerate(gateways) if broker.node_of(i) == a.kill_node]
            times = []
            for gw in moved:
                after = [t for t in backend.online_at[gw] if t > killed]
                if after:
                    times.append(after[0] - killed)
            result["node_kill"] = {
                "node": a.kill_node, "gateways_on_it": len(moved), "reconnected": len(times),
                "reconnect_s_p50": pct(times, 50), "reconnect_s_p99": pct(times, 99),
                "reconnect_s_max": round(max(times), 2) if times else None}
        # let replays finish, then count what is still missing
        settle = time.time() + 30
        while time.time() < settle and backend.missing() > 0:
            time.sleep(0.5)
        backend.ack_all()
        time.sleep(2)
        stats = {gw: proc_stats(p.pid) for gw, p in procs.items()}
        rss = [s[0] for s in stats.values() if s]
        cpu = [s[1] for s in stats.values() if s]
        commands = backend.sent
        result.update({
            "commands": commands,
            "submit_replies": sum(1 for k in backend.replies if str(k).startswith("submit-")),
            "reply_messages": sum(backend.replies.values()),
            "duplicate_replies": sum(c - 1 for c in backend.replies.values() if c > 1),
            "events": sum(len(s) for s in backend.events.values()),
            "duplicate_events": backend.duplicate_events,
            "seq_gaps_seen": backend.gaps_seen,
            "events_missing_after_replay": backend.missing(),
            "file_server_ok": served["ok"], "file_server_503": served["busy"],
            "gateway_rss_mb_p50": round(pct(rss, 50) / 2**20, 1) if rss else None,
            "gateway_rss_mb_max": round(max(rss) / 2**20, 1) if rss else None,
            "gateway_cpu_s_p50": pct(cpu, 50), "gateway_cpu_s_max": round(max(cpu), 2) if cpu else None,
            "broker_rss_mb": round(sum((proc_stats(p) or (0, 0))[0] for p in broker.pids()) / 2**20, 1),
        })
        if isinstance(broker, Cluster):
            result["cluster_start_s"] = round(broker.start_s, 1)
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        backend.client.loop_stop()
        server.shutdown()
        broker.stop()
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
