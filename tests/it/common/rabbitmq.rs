//! A real 3-node RabbitMQ cluster for the cloud link tests: `tests/peers/rabbitmq/
//! rabbitmq_cluster.sh` boots `rabbit{1,2,3}@localhost` on 127.0.0.1 (private epmd, cookie and
//! ports), each node with an MQTT-over-TLS listener, certificate login (user = CN of the
//! per-run PKI) and the contract's per-gateway topic permissions, session queues of type
//! quorum. Starting it takes ~30 s, so one cluster serves a whole test binary: it starts on
//! first use, and a watcher process stops it when the test process exits (its stdin is a pipe
//! only this process holds). Only `cluster::node_kill` kills a node (node 3, which the other
//! tests do not use); tests that kill nodes take turns (`Cluster::kill_turn`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use super::pki::Pki;

/// The backend's certificate CN (a user with every permission).
pub const BACKEND: &str = "cloud";
/// The gateway ids (= certificate CNs, = users) the cluster knows; each test takes its own,
/// since a persistent session outlives the test that created it.
pub const GATEWAYS: [&str; 5] = [
    "gw-rmq-cmd",
    "gw-rmq-spare",
    "gw-rmq-kill",
    "gw-rmq-will",
    "gw-rmq-denied",
];

/// The one cluster of this test binary.
pub struct Cluster {
    pub pki: Pki,
    /// The MQTT/TLS port of node 1, 2 and 3.
    pub ports: [u16; 3],
    dir: PathBuf,
    /// Held by a test while it kills or restarts a node.
    turn: tokio::sync::Mutex<()>,
    _watcher: ChildStdin,
    _watcher_child: Child,
}

/// The cluster script in the repository.
pub fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/rabbitmq/rabbitmq_cluster.sh")
}

impl Cluster {
    /// The cluster, started on first use.
    pub fn shared() -> &'static Cluster {
        static CLUSTER: OnceLock<Cluster> = OnceLock::new();
        CLUSTER.get_or_init(Cluster::start)
    }

    fn start() -> Cluster {
        let server = std::fs::read_dir("/usr/lib/rabbitmq/lib")
            .ok()
            .and_then(|mut d| d.next());
        assert!(
            server.is_some(),
            "rabbitmq-server is not installed: `apt-get install -y rabbitmq-server` \
             (scripts/test does it)"
        );
        // Kept after the run: the nodes' logs are there when a test failed.
        let dir = tempfile::Builder::new()
            .prefix("fluxprint-rabbitmq-")
            .tempdir()
            .unwrap()
            .keep();
        let pki = Pki::with_clients(
            &dir,
            &GATEWAYS
                .iter()
                .copied()
                .chain([BACKEND])
                .collect::<Vec<_>>(),
        );
        let base = free_base_port();
        let cluster_dir = dir.join("cluster");
        // Watching from before the start: a start that fails or prints no port panics here,
        // which drops the watcher's pipe, and what did start (nodes, epmd) is stopped.
        let (watcher_child, watcher) = watch_exit(&cluster_dir);
        let started = Command::new(cluster_script())
            .args(["start".as_ref(), cluster_dir.as_os_str()])
            .env("RMQ_BASE_PORT", base.to_string())
            .env("RMQ_CA", &pki.ca)
            .env("RMQ_SERVER_CERT", &pki.server_cert)
            .env("RMQ_SERVER_KEY", &pki.server_key)
            .env("RMQ_GATEWAYS", GATEWAYS.join(" "))
            .env("RMQ_BACKEND", BACKEND)
            .stdin(Stdio::null())
            .output()
            .expect("run rabbitmq_cluster.sh");
        let stderr = String::from_utf8_lossy(&started.stderr);
        assert!(
            started.status.success(),
            "rabbitmq_cluster.sh start failed (logs under {}): {stderr}",
            dir.display()
        );
        let values = key_values(&started.stdout);
        let port = |n: u8| -> u16 {
            let key = format!("RMQ_NODE{n}_MQTTS_PORT");
            values
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or_else(|| panic!("rabbitmq_cluster.sh printed no {key}: {stderr}"))
        };
        Cluster {
            pki,
            ports: [port(1), port(2), port(3)],
            dir: cluster_dir,
            turn: tokio::sync::Mutex::new(()),
            _watcher: watcher,
            _watcher_child: watcher_child,
        }
    }

    /// `mqtts://127.0.0.1:PORT` of node `n` (1..=3).
    pub fn url(&self, n: usize) -> url::Url {
        format!("mqtts://127.0.0.1:{}", self.ports[n - 1])
            .parse()
            .unwrap()
    }

    /// Held while a test kills and restarts a node, so that two tests never take down two
    /// nodes at once (`pause_minority` would then stop the third).
    pub async fn kill_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }

    /// `kill -9` of node `n`'s Erlang VM: no goodbye to anyone.
    pub fn kill9(&self, n: usize) {
        self.script(&["kill9", &n.to_string()]);
    }

    /// Starts node `n` again and waits until it runs (7-11 s); it rejoins the cluster.
    pub fn restart(&self, n: usize) {
        self.script(&["restart", &n.to_string()]);
    }

    fn script(&self, args: &[&str]) -> String {
        let (command, rest) = args.split_first().unwrap();
        let out = Command::new(cluster_script())
            .arg(command)
            .arg(&self.dir)
            .args(rest)
            .stdin(Stdio::null())
            .output()
            .expect("run rabbitmq_cluster.sh");
        assert!(
            out.status.success(),
            "rabbitmq_cluster.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A base port B such that B..B+40 (epmd and the three nodes' ports) is free now.
fn free_base_port() -> u16 {
    // Below the kernel's ephemeral range: a port another test's `bind(0)` is handed between
    // this probe and a node's own bind failed a node's start ("could_not_start_listener").
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let (first, span) = (10_000u16, 40u16);
    let bases = (ephemeral_low.saturating_sub(first) / span).max(1);
    // Concurrent runs on one machine start from different places.
    let offset = (std::process::id() % u32::from(bases)) as u16;
    for i in 0..bases {
        let base = first + ((offset + i) % bases) * span;
        let free = (0..span).all(|p| std::net::TcpListener::bind(("127.0.0.1", base + p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("found no {span} free consecutive ports on 127.0.0.1 below {ephemeral_low}");
}

/// A process that stops the cluster when this process exits, however it exits.
fn watch_exit(dir: &Path) -> (Child, ChildStdin) {
    let mut child = Command::new("setsid")
        .args([
            "sh",
            "-c",
            "read _ignored; exec \"$0\" stop \"$1\" >/dev/null 2>&1",
        ])
        .arg(cluster_script())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the cluster's watcher");
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

fn key_values(stdout: &[u8]) -> Vec<(String, String)> {
    stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}
