//! A real Klipper + Moonraker for tests: `../shared/peers/klipper/moonraker_peer.sh` next to
//! the repository starts Moonraker and Klippy (whose MCU is Klipper's host simulator) on
//! 127.0.0.1. One peer serves a whole test binary: it starts on first use, and a watcher
//! process stops it when the test process exits (its stdin is a pipe only this process
//! holds, so it sees end-of-file however the process ends).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

/// Starting the peer takes 2-4 s; a slow, busy machine gets more.
const READY_DEADLINE: Duration = Duration::from_secs(90);

/// The one peer of this test binary, and how to reach it.
pub struct Peer {
    pub port: u16,
    pub url: url::Url,
    pub api_key: String,
    pub gcodes: PathBuf,
    data: PathBuf,
    home: PathBuf,
    log: PathBuf,
    /// Moonraker's process; it changes when a test restarts Moonraker.
    moonraker: Mutex<Moonraker>,
    /// Held open until the process exits; the watcher then stops the peer.
    _watcher: ChildStdin,
    _watcher_child: Child,
}

/// Moonraker's process: the script's at first, then one this process started.
struct Moonraker {
    pid: u32,
    child: Option<Child>,
}

/// `moonraker_peer.sh` beside the repository (`../shared/peers/klipper/`).
pub fn peer_script() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.join("../shared/peers/klipper/moonraker_peer.sh")
}

/// Where the peer is installed: `MOONRAKER_PEER_HOME`, or the cache scripts/test uses.
pub fn peer_home() -> PathBuf {
    if let Some(home) = std::env::var_os("MOONRAKER_PEER_HOME") {
        return PathBuf::from(home);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("fluxprint").join("moonraker-peer")
}

impl Peer {
    /// The peer, started on first use.
    pub fn shared() -> &'static Peer {
        static PEER: OnceLock<Peer> = OnceLock::new();
        PEER.get_or_init(Peer::start)
    }

    fn start() -> Peer {
        let (script, home) = (peer_script(), peer_home());
        // The install writes VERSIONS last.
        assert!(
            home.join("VERSIONS").is_file(),
            "the Klipper + Moonraker test peer is not installed in {home}: run scripts/test \
             (it installs it), or `apt-get install gcc python3-venv libffi-dev` and \
             `MOONRAKER_PEER_HOME={home} {script} install` (about 2.5 min)",
            home = home.display(),
            script = script.display(),
        );
        // The port is free when chosen, but nothing holds it until Moonraker binds it: another
        // test's listener may take it meanwhile, and Moonraker exits (the script stops what it
        // started). Another port then, three times at most.
        let mut failed = Vec::new();
        let (port, started) = loop {
            let port = free_port();
            let started = Command::new(&script)
                .args(["start", &port.to_string()])
                .env("MOONRAKER_PEER_HOME", &home)
                .stdin(Stdio::null())
                .output()
                .expect("run moonraker_peer.sh");
            if started.status.success() {
                break (port, started);
            }
            failed.push(String::from_utf8_lossy(&started.stderr).into_owned());
            assert!(
                failed.len() < 3,
                "moonraker_peer.sh start failed three times: {failed:#?}"
            );
        };
        let stderr = String::from_utf8_lossy(&started.stderr);
        let values = key_values(&started.stdout);
        let value = |key: &str| {
            values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("moonraker_peer.sh printed no {key}: {stderr}"))
        };
        let (watcher_child, watcher) = watch_exit(&script, &home, port);
        Peer {
            port,
            url: value("MOONRAKER_URL").parse().unwrap(),
            api_key: value("MOONRAKER_API_KEY"),
            gcodes: value("MOONRAKER_GCODES").into(),
            data: value("MOONRAKER_DATA").into(),
            log: value("MOONRAKER_LOG").into(),
            home,
            moonraker: Mutex::new(Moonraker {
                pid: value("MOONRAKER_PID").parse().unwrap(),
                child: None,
            }),
            _watcher: watcher,
            _watcher_child: watcher_child,
        }
    }

    fn http() -> reqwest::Client {
        // Per call: each test has its own runtime, and a pooled connection belongs to one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = Self::http()
            .request(method, self.url.join(path).unwrap())
            .header("X-Api-Key", &self.api_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Moonraker answers {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::POST, path).await
    }

    /// Runs G-code as someone at Mainsail's console would.
    pub async fn gcode(&self, script: &str) -> (u16, Value) {
        let path = format!("printer/gcode/script?script={}", urlencode(script));
        self.post(&path).await
    }

    /// Klippy's state as Moonraker reports it (`ready`, `shutdown`, `disconnected`, …).
    pub async fn klippy_state(&self) -> String {
        match Self::http()
            .get(self.url.join("server/info").unwrap())
            .header("X-Api-Key", &self.api_key)
            .send()
            .await
        {
            Ok(response) => {
                let info: Value = response.json().await.unwrap_or(Value::Null);
                info["result"]["klippy_state"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_owned()
            }
            Err(_) => "unreachable".into(),
        }
    }

    pub async fn wait_klippy(&self, state: &str) {
        let deadline = tokio::time::Instant::now() + READY_DEADLINE;
        loop {
            let now = self.klippy_state().await;
            if now == state {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Klippy never became {state}; it is {now}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `print_stats.state` and `print_stats.filename`.
    pub async fn print_stats(&self) -> (String, String) {
        let (_, body) = self.get("printer/objects/query?print_stats").await;
        let stats = &body["result"]["status"]["print_stats"];
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        (text(&stats["state"]), text(&stats["filename"]))
    }

    /// Waits until `print_stats.state` satisfies `ok`.
    pub async fn wait_print(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (state, _) = self.print_stats().await;
            if ok(&state) {
                return state;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Klipper never became {what}; it is {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A ready Klippy with no print on it, whatever the last test left.
    pub async fn make_idle(&self) {
        if self.klippy_state().await != "ready" {
            self.post("printer/firmware_restart").await;
            self.wait_klippy("ready").await;
        }
        let (state, _) = self.print_stats().await;
        if state == "printing" || state == "paused" {
            self.post("printer/print/cancel").await;
        }
        self.wait_print("idle", |s| s != "printing" && s != "paused")
            .await;
    }

    /// Uploads `gcode` as `name` under `gcodes` and starts it, as someone at Mainsail would.
    pub async fn print_file(&self, name: &str, gcode: &str) {
        let boundary = "fluxprint-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"print\"\r\n\r\ntrue\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{gcode}\r\n--{boundary}--\r\n"
        );
        let response = Self::http()
            .post(self.url.join("server/files/upload").unwrap())
            .header("X-Api-Key", &self.api_key)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("Moonraker answers");
        assert_eq!(response.status().as_u16(), 201, "upload and print {name}");
    }

    /// The newest record of `filename` in Moonraker's history: its `status`.
    pub async fn history_status(&self, filename: &str) -> Option<String> {
        let (_, body) = self.get("server/history/list?limit=50").await;
        let jobs = body["result"]["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        jobs.iter()
            .find(|j| j["filename"] == filename)
            .and_then(|j| j["status"].as_str().map(str::to_owned))
    }

    /// Moonraker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops Moonraker (SIGTERM) and starts it again, Klippy printing on meanwhile.
    pub async fn restart_moonraker(&self) {
        let (old, mut child) = {
            let mut moonraker = self.moonraker.lock().unwrap();
            (moonraker.pid, moonraker.child.take())
        };
        let _ = Command::new("kill").arg(old.to_string()).status();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let gone = match child.as_mut() {
                Some(child) => child.try_wait().unwrap().is_some(),
                None => !Path::new(&format!("/proc/{old}")).exists(),
            };
            if gone {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Moonraker did not stop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.data.join("logs/moonraker.stdout"))
            .unwrap();
        let mut command = Command::new(self.home.join("venv-moonraker/bin/python"));
        command
            .arg(self.home.join("moonraker/moonraker/moonraker.py"))
            .arg("-d")
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // A process group of its own: a Ctrl-C on the terminal is for the tests, not it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("start Moonraker again");
        let pid = child.id();
        *self.moonraker.lock().unwrap() = Moonraker {
            pid,
            child: Some(child),
        };
        self.record_moonraker_pid(pid);
        self.wait_klippy("ready").await;
    }

    /// The script's state file names the new Moonraker, so that its `stop` ends it.
    fn record_moonraker_pid(&self, pid: u32) {
        let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
        let state = Path::new(&tmp).join(format!("moonraker-peer-{}.state", self.port));
        let text = std::fs::read_to_string(&state).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.starts_with("MOONRAKER_PID=") {
                true => format!("MOONRAKER_PID={pid}"),
                false => l.to_owned(),
            })
            .collect();
        std::fs::write(&state, lines.join("\n") + "\n").unwrap();
    }
}

/// A process that stops the peer once this test process is gone: it waits for end-of-file
/// on its stdin, whose only writer is this process. In a session of its own, so that a
/// Ctrl-C on the terminal does not kill it first.
fn watch_exit(script: &Path, home: &Path, port: u16) -> (Child, ChildStdin) {
    let mut child = Command::new("setsid")
        .args([
            "sh",
            "-c",
            "read _ignored; exec \"$0\" stop \"$1\" >/dev/null 2>&1",
        ])
        .arg(script)
        .arg(port.to_string())
        .env("MOONRAKER_PEER_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the peer's watcher");
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

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A job that homes, heats a little (bed 35 °C, hotend 45 °C: seconds on the simulated
/// heaters), then makes `moves` 1 mm moves on a circle at `feed` mm/min.
pub fn moves_gcode(moves: usize, feed: u32) -> String {
    let mut g = String::from(
        "; fluxprint test job\nG28\nG90\nM83\nM140 S35\nM190 S35\nM104 S45\nM109 S45\n\
         G0 X140 Y100 F9000\n",
    );
    for i in 0..moves {
        let a = i as f64 / 40.0;
        g.push_str(&format!(
            "G1 X{:.3} Y{:.3} E0.05 F{feed}\n",
            100.0 + 40.0 * a.cos(),
            100.0 + 40.0 * a.sin()
        ));
    }
    g.push_str("M104 S0\nM140 S0\nM84\n");
    g
}
