//! One `fluxprint-gateway run` process for the footprint benchmark: its config, start-up
//! (until the LAN page listens), its memory from `/proc`, and a clean stop (SIGTERM).

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "footprint-key";

/// The binary (the release build, or `FOOTPRINT_BINARY`) and an optional runner in front of
/// it (`FOOTPRINT_RUNNER`, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu").
pub fn binary() -> (Vec<String>, PathBuf) {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let binary = std::env::var("FOOTPRINT_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(&target).join("release/fluxprint-gateway"));
    let runner = std::env::var("FOOTPRINT_RUNNER").unwrap_or_default();
    let runner = runner.split_whitespace().map(str::to_owned).collect();
    (runner, binary)
}

/// Resident and anonymous memory of a process, KiB (`VmRSS`, `RssAnon`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub anon_kib: u64,
    pub threads: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            (status.lines())
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            anon_kib: field("RssAnon:"),
            threads: field("Threads:"),
        }
    }

    pub fn max(self, other: Memory) -> Memory {
        Memory {
            rss_kib: self.rss_kib.max(other.rss_kib),
            anon_kib: self.anon_kib.max(other.anon_kib),
            threads: self.threads.max(other.threads),
        }
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        write!(
            f,
            "RSS {:5.1} MiB, anonymous {:4.1} MiB, {:2} threads",
            mib(self.rss_kib),
            mib(self.anon_kib),
            self.threads
        )
    }
}

/// What goes into a gateway's config besides its state directory.
pub struct Setup<'a> {
    pub id: &'a str,
    /// `(broker port, CA, client certificate, client key)` for `[cloud]`, or no cloud.
    pub cloud: Option<(u16, &'a Path, PathBuf, PathBuf)>,
    /// The simulated printer's speed (physics this many times real time).
    pub speed_up: f64,
}

fn config(dir: &Path, setup: &Setup) -> String {
    let mut text = format!(
        "[gateway]\nid = \"{id}\"\nstate_dir = \"{state}\"\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\napi_key = \"{KEY}\"\nrate_limit_per_minute = 0\n\n",
        id = setup.id,
        state = dir.join("state").display(),
    );
    if let Some((port, ca, cert, key)) = &setup.cloud {
        text += &format!(
            "[cloud]\nenabled = true\nurl = \"mqtts://127.0.0.1:{port}\"\n\
             ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n\
             [cloud.downloads]\nextra_ca_file = \"{}\"\n\n",
            ca.display(),
            cert.display(),
            key.display(),
            ca.display(),
        );
    }
    text += &format!(
        "[[printers]]\nid = \"p0\"\ndriver = \"simulated\"\nbuild_volume = [250, 210, 210]\n\
         auto_start = true\n[printers.simulator]\nspeed_up = {:.1}\nrecord_commands = false\n",
        setup.speed_up
    );
    text
}

/// A running gateway process; stopped (SIGTERM) when dropped.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Gateway {
    /// Starts a gateway in `dir` and waits until its LAN page listens.
    pub fn start(dir: &Path, setup: &Setup, env: &[(&str, &str)]) -> Gateway {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("gateway.toml");
        std::fs::write(&config_path, config(dir, setup)).unwrap();
        let log = dir.join("gateway.log");
        let out = std::fs::File::create(&log).unwrap();
        let (runner, binary) = binary();
        let mut command = match runner.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        command
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut gateway = Gateway {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
        };
        gateway.addr = gateway.wait_for_listening();
        gateway
    }

    fn wait_for_listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let mut text = String::new();
            let mut file = std::fs::File::open(&self.log).unwrap();
            file.read_to_string(&mut text).unwrap();
            let found = (text.lines())
                .filter(|l| l.contains("listening"))
                .find_map(|l| l.split("addr=").nth(1))
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse().ok());
            if let Some(addr) = found {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the gateway exited ({status}): {text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the gateway never listened; see {}", self.log.display());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Memory {
        Memory::of(self.pid())
    }

    /// The highest of `samples` readings taken `every` apart.
    pub async fn memory_over(&self, samples: u32, every: Duration) -> Memory {
        let mut highest = Memory::default();
        for _ in 0..samples {
            highest = highest.max(self.memory());
            tokio::time::sleep(every).await;
        }
        highest
    }

    /// The last lines the gateway logged (for a failure message).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
