//! A real OctoPrint for tests: installed from PyPI into `.venv` at the repo root (by
//! scripts/test, or here when missing), started on 127.0.0.1 with a free port and a fresh
//! base directory preseeded with a user, an application key, the virtual printer (connected
//! at start-up, made fast) and every network-using plugin disabled.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The application key preseeded for the gateway.
pub const API_KEY: &str = "FLUXPRINTTESTKEY0123456789ABCDEF";
const USER: &str = "fluxprint";
/// pbkdf2-sha256 of "fluxprint-test" (passlib format), as OctoPrint stores it.
const PASSWORD_HASH: &str =
    "$pbkdf2-sha256$29000$vpdSqnWu9f6/FwIgxPg/5w$Qp55CHT6zBcvUkSpxY4VnFnGPQxm0n7M0HW3sYNxPMM";
/// OctoPrint starts in 5-20 s; past this something is broken.
const STARTUP_DEADLINE: Duration = Duration::from_secs(90);

/// How the virtual printer behaves.
#[derive(Clone, Copy)]
pub struct VirtualPrinter {
    /// Keep the default resend errors injected at lines 100-115.
    pub resend_errors: bool,
    /// Connect the printer when OctoPrint starts.
    pub autoconnect: bool,
}

impl Default for VirtualPrinter {
    fn default() -> Self {
        VirtualPrinter {
            resend_errors: false,
            autoconnect: true,
        }
    }
}

pub struct OctoPrint {
    base: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    http: reqwest::Client,
}

impl OctoPrint {
    /// Starts OctoPrint and waits until its API answers.
    pub async fn start(printer: VirtualPrinter) -> OctoPrint {
        // The test's own HTTP client asks rustls for the process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let executable = octoprint_executable();
        let base = tempfile::tempdir().unwrap();
        write_base_dir(base.path(), printer);
        let port = free_port();
        let mut octoprint = OctoPrint {
            base,
            port,
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        octoprint.spawn(&executable);
        octoprint.wait_up().await;
        octoprint
    }

    pub fn url(&self) -> url::Url {
        format!("http://127.0.0.1:{}/", self.port).parse().unwrap()
    }

    fn spawn(&mut self, executable: &Path) {
        let log = std::fs::File::create(self.base.path().join("stdout.log")).unwrap();
        let child = Command::new(executable)
            .args(["serve", "--iknowwhatimdoing", "--host", "127.0.0.1"])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--basedir")
            .arg(self.base.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start OctoPrint");
        self.child = Some(child);
    }

    async fn wait_up(&mut self) {
        let deadline = tokio::time::Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok((200, _)) = self.get("api/version").await {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("OctoPrint exited ({status}): {}", self.stdout());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "OctoPrint did not answer within {STARTUP_DEADLINE:?}: {}",
                self.stdout()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Kills OctoPrint at once (SIGKILL), as a crash or power loss would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts OctoPrint again on the same port and base directory.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn(&octoprint_executable());
        self.wait_up().await;
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<(u16, Value)> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, self.url().join(path).unwrap())
            .header("X-Api-Key", API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Uploads `gcode` as `name` straight to OctoPrint and starts printing it, as someone
    /// at OctoPrint's own page would (the gateway is not involved).
    pub async fn print_file(&self, name: &str, gcode: &str) {
        let boundary = "fluxprint-test-boundary";
        let mut body = String::new();
        for (field, value) in [("select", "true"), ("print", "true")] {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{gcode}\r\n--{boundary}--\r\n"
        ));
        let response = self
            .http
            .post(self.url().join("api/files/local").unwrap())
            .header("X-Api-Key", API_KEY)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("OctoPrint answers");
        assert_eq!(response.status().as_u16(), 201, "upload and print {name}");
    }

    /// OctoPrint's state text (`Operational`, `Printing`, …).
    pub async fn state(&self) -> String {
        let (_, job) = self.get("api/job").await.expect("OctoPrint answers");
        job["state"].as_str().unwrap_or("").to_owned()
    }

    /// Waits until OctoPrint's state text satisfies `ok`.
    pub async fn wait_state(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.state().await;
            if ok(&state) {
                return state;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "OctoPrint never became {what}; it is {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// OctoPrint's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.base.path().join("logs").join("octoprint.log"))
            .unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.base.path().join("stdout.log")).unwrap_or_default()
    }
}

impl Drop for OctoPrint {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `.venv/bin/octoprint`, installing it from requirements-test.txt when missing.
pub fn octoprint_executable() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv");
    let executable = venv.join("bin").join("octoprint");
    if executable.is_file() {
        return executable;
    }
    let help = "OctoPrint is not installed in .venv; run scripts/test (it installs \
                requirements-test.txt into .venv)";
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    assert!(created.is_ok_and(|s| s.success()), "{help}");
    let installed = Command::new(venv.join("bin").join("python"))
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
        .arg(root.join("requirements-test.txt"))
        .status();
    assert!(installed.is_ok_and(|s| s.success()), "{help}");
    assert!(executable.is_file(), "{help}");
    executable
}

fn write_base_dir(base: &Path, printer: VirtualPrinter) {
    let simulated_errors = if printer.resend_errors {
        // OctoPrint's defaults, with the timeout-based one left out to keep tests quick.
        "[\"100:resend\", \"110:missing_lineno\", \"115:checksum_mismatch\"]"
    } else {
        "[]"
    };
    let config = format!(
        r#"accessControl:
  salt: fluxprinttestsalt0123456789abcdef
server:
  firstRun: false
  secretKey: fluxprinttestsecretkey0123456789
  onlineCheck:
    enabled: false
  pluginBlacklist:
    enabled: false
  seenWizards:
    corewizard: 4
    backup: null
    tracking: null
    announcements: null
    pluginmanager: null
    softwareupdate: null
plugins:
  _disabled:
  - announcements
  - pluginmanager
  - softwareupdate
  - tracking
  - backup
  - firmware_check
  - file_check
  - pi_support
  - gcodeviewer
  - achievements
  - health_check
  - logging
  - errortracking
  - upload_manager
  virtual_printer:
    enabled: true
    throttle: 0.001
    sendWait: false
    okAfterResend: false
    waitInterval: 0.2
    simulated_errors: {simulated_errors}
serial:
  autoconnect: {autoconnect}
  port: VIRTUAL
  baudrate: 0
  additionalPorts: []
  timeout:
    communication: 3
    connection: 3
    detectionFirst: 3
    detectionConsecutive: 2
temperature:
  cutoff: 30
"#,
        autoconnect = printer.autoconnect,
    );
    std::fs::write(base.join("config.yaml"), config).unwrap();
    let users = format!(
        "_version: 2\n{USER}:\n  active: true\n  apikey: null\n  groups:\n  - admins\n  - users\n  \
         password: '{PASSWORD_HASH}'\n  permissions: []\n  roles:\n  - user\n  - admin\n  \
         settings: {{}}\n"
    );
    std::fs::write(base.join("users.yaml"), users).unwrap();
    let keys_dir = base.join("data").join("appkeys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let keys = format!("{USER}:\n- api_key: {API_KEY}\n  app_id: FluxPrint Gateway\n");
    std::fs::write(keys_dir.join("keys.yaml"), keys).unwrap();
}
