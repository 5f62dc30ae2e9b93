//! The update tests' farm: an installed gateway, its broker, cloud, release key and the
//! stand-in for systemd (shared with `benches/update.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::file_server::FileServer;
use crate::common::mosquitto::{Broker, Cloud, GATEWAY, Pki, topic};

/// The running (old) version.
pub const OLD: &str = env!("CARGO_PKG_VERSION");
/// The second build's version.
pub fn new_version() -> String {
    format!("{OLD}-next")
}

/// The second build, made by `scripts/test` before the tests run.
pub fn next_build() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/update-next/fluxprint-gateway");
    assert!(
        path.is_file(),
        "{} is missing: build it with `scripts/build-update-next` (scripts/test does)",
        path.display()
    );
    path
}

/// A gateway installed in a temporary "root", its broker, its cloud and its release key.
pub struct Farm {
    pub dir: TempDir,
    pub pki: Pki,
    pub broker: Broker,
    pub key: Ed25519KeyPair,
    pub binary: PathBuf,
    pub state_dir: PathBuf,
    pub config_file: PathBuf,
}

impl Farm {
    /// Installs the current build and starts it; `extra` goes into `[update]`.
    pub fn start(extra: &str) -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let broker = Broker::start(&pki, dir.path());
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let binary = dir.path().join("bin/fluxprint-gateway");
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_fluxprint-gateway"), &binary).unwrap();
        let farm = Farm {
            state_dir: dir.path().join("state"),
            config_file: dir.path().join("gateway.toml"),
            binary,
            key,
            broker,
            pki,
            dir,
        };
        farm.write_config(extra);
        farm.write_restart_script();
        farm.restart();
        farm
    }

    /// Makes the second build (`-next`) start with a config whose cloud link trusts another
    /// CA: it runs, but its link never connects, so it never reports healthy.
    pub fn next_cannot_connect(&self, extra: &str) {
        let config = self.config_text(extra, &self.pki.stranger_ca);
        std::fs::write(self.next_config_file(), config).unwrap();
    }

    /// The versions the restart command started, in order.
    pub fn starts(&self) -> Vec<String> {
        let starts = std::fs::read_to_string(self.dir.path().join("starts.log")).unwrap();
        starts.lines().map(str::to_owned).collect()
    }

    fn next_config_file(&self) -> PathBuf {
        self.dir.path().join("gateway-next.toml")
    }

    fn write_config(&self, extra: &str) {
        let config = self.config_text(extra, &self.pki.ca);
        std::fs::write(&self.config_file, config).unwrap();
    }

    /// The config, its cloud link trusting `link_ca`.
    fn config_text(&self, extra: &str, link_ca: &Path) -> String {
        let (cert, key) = self.pki.cert(GATEWAY);
        let public = b64(self.key.public_key().as_ref());
        format!(
            "[gateway]\nid = \"{GATEWAY}\"\nstate_dir = \"{state}\"\n\
             [web]\nlisten = \"127.0.0.1:0\"\n\
             [cloud]\nenabled = true\nurl = \"mqtts://127.0.0.1:{port}\"\nca_file = \"{link_ca}\"\n\
             cert_file = \"{cert}\"\nkey_file = \"{key}\"\n\
             [cloud.downloads]\nextra_ca_file = \"{ca}\"\n\
             [update]\npublic_key = \"{public}\"\nbinary = \"{binary}\"\n\
             restart_command = [\"{restart}\"]\n{extra}\n\
             [[printers]]\nid = \"sim\"\ndriver = \"simulated\"\nbuild_volume = [200, 200, 200]\nauto_start = true\n",
            state = self.state_dir.display(),
            port = self.broker.port,
            link_ca = link_ca.display(),
            ca = self.pki.ca.display(),
            cert = cert.display(),
            key = key.display(),
            binary = self.binary.display(),
            restart = self.restart_script().display(),
        )
    }

    fn restart_script(&self) -> PathBuf {
        self.dir.path().join("restart.sh")
    }

    /// `systemctl restart` for the test: stop the daemon in `daemon.pid` (waiting for it to
    /// exit, as systemd does), start the installed binary detached (the `-next` build with
    /// `gateway-next.toml` when a test wrote one) and note its version in `starts.log`.
    fn write_restart_script(&self) {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.path().display();
        let script = format!(
            "#!/bin/sh\n\
             pid=$(cat '{dir}/daemon.pid' 2>/dev/null)\n\
             if [ -n \"$pid\" ] && kill -TERM \"$pid\" 2>/dev/null; then\n\
             \x20 while kill -0 \"$pid\" 2>/dev/null; do sleep 0.05; done\n\
             fi\n\
             config='{config}'\n\
             version=$('{binary}' --version)\n\
             case \"$version\" in *-next) [ -f '{next}' ] && config='{next}' ;; esac\n\
             echo \"$version\" >> '{dir}/starts.log'\n\
             '{binary}' run --config \"$config\" >>'{dir}/daemon.log' 2>&1 &\n\
             echo $! > '{dir}/daemon.pid'\n",
            binary = self.binary.display(),
            config = self.config_file.display(),
            next = self.next_config_file().display(),
        );
        std::fs::write(self.restart_script(), script).unwrap();
        let mode = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(self.restart_script(), mode).unwrap();
    }

    /// Starts (or restarts) the installed binary, as the helper would.
    pub fn restart(&self) {
        let status = std::process::Command::new(self.restart_script())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The installed binary's `--version`.
    pub fn installed_version(&self) -> String {
        let out = std::process::Command::new(&self.binary)
            .arg("--version")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The cloud, once the daemon has connected and published its state.
    pub async fn cloud(&self) -> Cloud {
        let mut cloud = Cloud::connect(&self.pki, &self.broker, "cloud").await;
        cloud
            .wait_for("the gateway's state", |s| s.topic == topic("state"))
            .await;
        cloud
    }

    /// Serves `content` over HTTPS and returns `gateway.update` args for it, signed with the
    /// farm's key (or `key` when given).
    pub async fn release(&self, content: Vec<u8>, key: Option<&Ed25519KeyPair>) -> Value {
        let server = FileServer::start(&self.pki, "fluxprint-gateway", content).await;
        let digest = hex::decode(&server.sha256).unwrap();
        let signature = key.unwrap_or(&self.key).sign(&digest);
        json!({
            "version": new_version(),
            "url": server.url,
            "sha256": server.sha256,
            "signature": b64(signature.as_ref()),
            "when": "idle",
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("daemon.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Plays the path unit and the oneshot service: runs the helper each time `request.json`
/// appears, with the binary installed at that moment (as `ExecStart=` would).
pub struct Systemd {
    task: tokio::task::JoinHandle<()>,
}

impl Systemd {
    pub fn start(farm: &Farm) -> Systemd {
        let request = farm.state_dir.join("update/request.json");
        let (binary, config) = (farm.binary.clone(), farm.config_file.clone());
        let task = tokio::spawn(async move {
            loop {
                // inotify is what the path unit uses; a short poll stands in for it here.
                if request.exists() {
                    let out = tokio::process::Command::new(&binary)
                        .arg("apply-update")
                        .arg("--config")
                        .arg(&config)
                        .output()
                        .await
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "apply-update failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Systemd { task }
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Sends `gateway.update` and collects its `gateway:update` stages until its reply.
pub async fn update(cloud: &mut Cloud, id: &str, args: Value) -> (Vec<Value>, Value) {
    cloud
        .command(
            "gateway.update",
            json!({"v": 1, "id": id, "args": args}),
            None,
        )
        .await;
    update_answer(cloud, id).await
}

/// The reply to `gateway.update` `id` and its `gateway:update` stages up to the last.
pub async fn update_answer(cloud: &mut Cloud, id: &str) -> (Vec<Value>, Value) {
    let reply = cloud.reply(id).await;
    let mut stages = Vec::new();
    loop {
        let event = cloud
            .next("a gateway:update event", |s| {
                s.topic == topic("events") && s.payload["type"] == "gateway:update"
            })
            .await
            .payload;
        let last =
            ["committed", "rolled-back", "refused"].contains(&event["stage"].as_str().unwrap());
        stages.push(event);
        if last {
            return (stages, reply);
        }
    }
}

pub fn stage_names(stages: &[Value]) -> Vec<&str> {
    stages
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect()
}
