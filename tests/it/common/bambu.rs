//! The Bambu printer's peers for the `bambu` tests, all real but the firmware: mosquitto as
//! the printer's broker (TLS with a per-test CA standing in for Bambu's, a server
//! certificate whose CN is the printer's serial and no other name, user `bblp` with the
//! access code in a password file) and vsftpd as its implicit-FTPS server (PASV, TLS on
//! the data channel with `require_ssl_reuse`, as the printers demand). Each test is one
//! printer, so each gets its own pair (a serial, a certificate, a file folder); both start
//! in milliseconds.
//!
//! The firmware is [`Firmware`]: an MQTT client on the broker's second, local listener (on
//! a printer the firmware sits next to its broker) that answers the requests as
//! OpenBambuAPI's mqtt.md describes, prints the file vsftpd received, and reports like an
//! X1 (whole state every time) or a P1 (only what changed).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{CertificateParams, DnType, KeyPair};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::PATIENCE;
use super::mosquitto::{is_root, mosquitto_binary};
use super::pki::new_ca;

/// The PAM service vsftpd logs `bblp` in with (any password: the access code itself is
/// checked by the broker, which the driver connects to first).
const PAM_SERVICE: &str = "fluxprint-bambu-test";
pub const ACCESS_CODE: &str = "12345678";
/// `print_error` of a cancelled print.
pub const CANCELLED: u64 = 0x0300_400C;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One printer's broker and file server, and the files of its PKI.
pub struct Printer {
    pub serial: String,
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub stranger_ca: PathBuf,
    pub mqtt_port: u16,
    /// The broker's plain listener for the firmware.
    pub local_port: u16,
    pub ftps_port: u16,
    /// vsftpd's root: the printer's storage.
    pub files: PathBuf,
    broker: Option<Child>,
    ftps: Option<Child>,
}

impl Printer {
    pub fn start(dir: &Path, serial: &str) -> Printer {
        let dir = dir.join("printer");
        let files = dir.join("sdcard");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        // vsftpd's guest user writes the uploads.
        set_mode(&files, 0o777);
        set_mode(&dir, 0o755);
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (ca, ca_cert) = new_ca("BBL CA (test)");
        let (_, stranger) = new_ca("stranger CA");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, serial);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        write("printer.pem", cert.pem());
        write("printer.key", key.serialize_pem());
        let mut printer = Printer {
            serial: serial.to_owned(),
            ca: write("ca.pem", ca_cert.pem()),
            stranger_ca: write("stranger-ca.pem", stranger.pem()),
            mqtt_port: free_port(),
            local_port: free_port(),
            ftps_port: free_port(),
            files,
            dir,
            broker: None,
            ftps: None,
        };
        printer.write_broker_config();
        printer.write_ftps_config();
        printer.start_broker();
        printer.start_ftps();
        printer
    }

    fn write_broker_config(&self) {
        let passwords = self.dir.join("passwords");
        std::fs::write(&passwords, "").unwrap();
        let made = Command::new("mosquitto_passwd")
            .args(["-b"])
            .arg(&passwords)
            .args(["bblp", ACCESS_CODE])
            .status()
            .expect("mosquitto_passwd (apt-get install -y mosquitto)");
        assert!(made.success());
        let user_root = if is_root() { "user root\n" } else { "" };
        let conf = format!(
            "{user_root}per_listener_settings false\nallow_anonymous false\n\
             password_file {passwords}\npersistence false\nlog_dest stderr\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             listener {tls} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             listener {local} 127.0.0.1\n",
            passwords = passwords.display(),
            tls = self.mqtt_port,
            local = self.local_port,
            ca = self.ca.display(),
            cert = self.dir.join("printer.pem").display(),
            key = self.dir.join("printer.key").display(),
        );
        std::fs::write(self.dir.join("mosquitto.conf"), conf).unwrap();
    }

    fn write_ftps_config(&self) {
        ensure_pam_service();
        let conf = format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nguest_enable=YES\nguest_username=ftp\n\
             virtual_use_local_privs=YES\nwrite_enable=YES\nlocal_umask=022\n\
             chroot_local_user=YES\nallow_writeable_chroot=YES\nlocal_root={files}\n\
             pam_service_name={PAM_SERVICE}\nssl_enable=YES\nimplicit_ssl=YES\n\
             allow_anon_ssl=NO\nforce_local_logins_ssl=YES\nforce_local_data_ssl=YES\n\
             require_ssl_reuse=YES\nssl_ciphers=HIGH\nrsa_cert_file={cert}\n\
             rsa_private_key_file={key}\npasv_enable=YES\npasv_address=127.0.0.1\n\
             seccomp_sandbox=NO\nsecure_chroot_dir={empty}\nxferlog_enable=YES\n\
             vsftpd_log_file={log}\nlog_ftp_protocol=YES\n",
            port = self.ftps_port,
            files = self.files.display(),
            cert = self.dir.join("printer.pem").display(),
            key = self.dir.join("printer.key").display(),
            empty = self.dir.join("empty").display(),
            log = self.dir.join("vsftpd.log").display(),
        );
        std::fs::write(self.dir.join("vsftpd.conf"), conf).unwrap();
    }

    /// Starts mosquitto and waits for its "running" line.
    pub fn start_broker(&mut self) {
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut announced = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !announced && line.contains("running") {
                    announced = true;
                    let _ = tx.send(());
                }
                if std::env::var_os("MOSQUITTO_LOG").is_some() {
                    eprintln!("printer broker: {line}");
                }
            }
        });
        rx.recv_timeout(PATIENCE)
            .expect("mosquitto did not start; run it by hand with the config in the test dir");
        self.broker = Some(child);
    }

    pub fn stop_broker(&mut self) {
        if let Some(mut child) = self.broker.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn start_ftps(&mut self) {
        let child = Command::new(vsftpd_binary())
            .arg(self.dir.join("vsftpd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vsftpd");
        self.ftps = Some(child);
        // vsftpd says nothing when it listens: it is ready when it accepts a connection.
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.ftps_port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "vsftpd does not listen; run `vsftpd {}` by hand",
                self.dir.join("vsftpd.conf").display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// vsftpd's protocol log (each command and reply).
    pub fn ftps_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vsftpd.log")).unwrap_or_default()
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        for child in [self.broker.take(), self.ftps.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn vsftpd_binary() -> PathBuf {
    ["/usr/sbin/vsftpd", "/usr/local/sbin/vsftpd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("vsftpd is not installed: `apt-get install -y vsftpd` (scripts/test does it)")
}

/// vsftpd's PAM service for the tests: `bblp` is a virtual user (vsftpd's guest `ftp`).
fn ensure_pam_service() {
    let path = Path::new("/etc/pam.d").join(PAM_SERVICE);
    if path.is_file() {
        return;
    }
    assert!(
        is_root(),
        "{} is missing: as root, write \"auth required pam_permit.so\\naccount required \
         pam_permit.so\" there (scripts/test does it)",
        path.display()
    );
    std::fs::write(
        &path,
        "# vsftpd for FluxPrint's Bambu tests\nauth required pam_permit.so\naccount required pam_permit.so\n",
    )
    .unwrap();
}

/// How the firmware reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reports {
    /// X1: the whole state with every push.
    Full,
    /// P1/A1: only what changed since the last push (the whole state after `pushall`).
    Deltas,
}

/// The emulated firmware's state; tests change it through [`Firmware::with`].
#[derive(Debug, Clone)]
pub struct Fw {
    pub gcode_state: &'static str,
    pub percent: u64,
    pub subtask: String,
    pub gcode_file: String,
    pub print_error: u64,
    pub hms: Vec<(u64, u64)>,
    /// Percent per tick while running.
    pub step: u64,
    /// The firmware's authorization control: control commands are refused.
    pub refuse_control: bool,
    /// Every request received, in order.
    pub requests: Vec<Value>,
    /// The file each started print read from the printer's storage.
    pub printed: Vec<Vec<u8>>,
    nozzle_target: f64,
}

impl Fw {
    fn status(&self) -> Map<String, Value> {
        let printing = matches!(self.gcode_state, "PREPARE" | "RUNNING" | "PAUSE");
        let target = if printing { self.nozzle_target } else { 0.0 };
        let hms: Vec<Value> = (self.hms.iter())
            .map(|(attr, code)| json!({"attr": attr, "code": code}))
            .collect();
        let status = json!({
            "gcode_state": self.gcode_state,
            "mc_percent": self.percent,
            "mc_remaining_time": (100 - self.percent.min(100)) / 10,
            "layer_num": self.percent / 5,
            "total_layer_num": 20,
            "nozzle_temper": if printing { 219.5 } else { 25.0 },
            "nozzle_target_temper": target,
            "bed_temper": if printing { 59.5 } else { 24.0 },
            "bed_target_temper": if printing { 60.0 } else { 0.0 },
            "print_error": self.print_error,
            "hms": hms,
            "subtask_name": self.subtask,
            "gcode_file": self.gcode_file,
        });
        match status {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// One tick of the print.
    fn advance(&mut self) {
        match self.gcode_state {
            "PREPARE" => self.gcode_state = "RUNNING",
            "RUNNING" => {
                self.percent = (self.percent + self.step).min(100);
                if self.percent == 100 {
                    self.gcode_state = "FINISH";
                }
            }
            _ => {}
        }
    }

    /// Starts printing `subtask` (from the screen or the gateway).
    pub fn print(&mut self, subtask: &str, file: &str) {
        self.gcode_state = "PREPARE";
        self.percent = 0;
        self.print_error = 0;
        self.hms.clear();
        self.subtask = subtask.to_owned();
        self.gcode_file = file.to_owned();
    }

    /// The print fails with `print_error` and an HMS code.
    pub fn fail(&mut self, print_error: u64, hms: (u64, u64)) {
        self.gcode_state = "FAILED";
        self.print_error = print_error;
        self.hms = vec![hms];
    }
}

/// The printer's firmware, running until dropped.
pub struct Firmware {
    state: Arc<Mutex<Fw>>,
    /// Wakes the firmware to report a change at once rather than on its next tick.
    push_now: Arc<tokio::sync::Notify>,
    changed: watch::Receiver<u64>,
    stop: CancellationToken,
}

impl Firmware {
    pub fn start(printer: &Printer, reports: Reports) -> Firmware {
        let fw = Fw {
            gcode_state: "IDLE",
            percent: 0,
            subtask: String::new(),
            gcode_file: String::new(),
            print_error: 0,
            hms: Vec::new(),
            step: 10,
            refuse_control: false,
            requests: Vec::new(),
            printed: Vec::new(),
            nozzle_target: 220.0,
        };
        let state = Arc::new(Mutex::new(fw));
        let (changed_tx, changed) = watch::channel(0);
        let stop = CancellationToken::new();
        let push_now = Arc::new(tokio::sync::Notify::new());
        let run = FirmwareLoop {
            push_now: push_now.clone(),
            state: state.clone(),
            changed: changed_tx,
            serial: printer.serial.clone(),
            files: printer.files.clone(),
            reports,
            sent: Map::new(),
        };
        tokio::spawn(run.run(printer.local_port, stop.clone()));
        Firmware {
            state,
            push_now,
            changed,
            stop,
        }
    }

    /// Changes the firmware's state; the change is reported on the next tick.
    pub fn with<T>(&self, change: impl FnOnce(&mut Fw) -> T) -> T {
        change(&mut self.state.lock().unwrap())
    }

    /// Changes the firmware's state and reports the change at once (a button on its screen).
    pub fn change(&self, change: impl FnOnce(&mut Fw)) {
        change(&mut self.state.lock().unwrap());
        self.push_now.notify_one();
    }

    /// Waits until the firmware's state satisfies `ok`.
    pub async fn wait(&self, what: &str, ok: impl Fn(&Fw) -> bool) {
        self.wait_within(Duration::from_secs(60), what, ok).await
    }

    /// As [`Firmware::wait`], for up to `patience`.
    pub async fn wait_within(&self, patience: Duration, what: &str, ok: impl Fn(&Fw) -> bool) {
        let mut changed = self.changed.clone();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if ok(&self.state.lock().unwrap()) {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let seen = tokio::time::timeout(left, changed.changed()).await;
            assert!(
                seen.is_ok(),
                "the firmware never saw {what}: {:?}",
                self.state.lock().unwrap()
            );
        }
    }

    /// The `command`s of every request received so far.
    pub fn commands(&self) -> Vec<String> {
        self.with(|fw| {
            fw.requests
                .iter()
                .filter_map(|r| {
                    let body = r.get("print").or_else(|| r.get("pushing"))?;
                    Some(body.get("command")?.as_str()?.to_owned())
                })
                .collect()
        })
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct FirmwareLoop {
    state: Arc<Mutex<Fw>>,
    push_now: Arc<tokio::sync::Notify>,
    changed: watch::Sender<u64>,
    serial: String,
    files: PathBuf,
    reports: Reports,
    /// The fields as last reported (for deltas).
    sent: Map<String, Value>,
}

impl FirmwareLoop {
    async fn run(mut self, port: u16, stop: CancellationToken) {
        let mut options = MqttOptions::new(format!("firmware-{}", self.serial), "127.0.0.1", port);
        options
            .set_credentials("bblp", ACCESS_CODE)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 256);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut retry = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.push_now.notified() => self.push(&client, false),
                _ = tick.tick() => {
                    retry = false;
                    self.state.lock().unwrap().advance();
                    self.push(&client, false);
                }
                event = events.poll(), if !retry => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let topic = format!("device/{}/request", self.serial);
                        client.try_subscribe(topic, QoS::AtMostOnce).unwrap();
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => self.request(&client, &p.payload),
                    Ok(_) => {}
                    // The broker is down (the printer restarts): try again on the next tick.
                    Err(_) => retry = true,
                },
            }
        }
    }

    /// Publishes the status: everything (X1, `pushall`) or what changed (P1).
    fn push(&mut self, client: &AsyncClient, everything: bool) {
        let status = self.state.lock().unwrap().status();
        let mut body = Map::new();
        for (key, value) in &status {
            let full = everything || self.reports == Reports::Full;
            if full || self.sent.get(key) != Some(value) {
                body.insert(key.clone(), value.clone());
            }
        }
        self.sent = status;
        if body.is_empty() {
            return;
        }
        body.insert("command".into(), "push_status".into());
        body.insert("msg".into(), json!(if everything { 0 } else { 1 }));
        self.publish(client, json!({ "print": body }));
        self.changed.send_modify(|n| *n += 1);
    }

    fn publish(&self, client: &AsyncClient, message: Value) {
        let topic = format!("device/{}/report", self.serial);
        let _ = client.try_publish(topic, QoS::AtMostOnce, false, message.to_string());
    }

    fn request(&mut self, client: &AsyncClient, payload: &[u8]) {
        let Ok(request) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        self.state.lock().unwrap().requests.push(request.clone());
        self.changed.send_modify(|n| *n += 1);
        if request["pushing"]["command"] == "pushall" {
            return self.push(client, true);
        }
        let body = &request["print"];
        let command = body["command"].as_str().unwrap_or("").to_owned();
        let sequence_id = body["sequence_id"].clone();
        let answer = self.carry_out(&command, body);
        let mut reply = json!({"command": command, "sequence_id": sequence_id});
        match answer {
            Ok(()) => reply["result"] = "success".into(),
            Err((reason, code)) => {
                reply["result"] = "failed".into();
                reply["reason"] = reason.into();
                if let Some(code) = code {
                    reply["err_code"] = code.into();
                }
            }
        }
        self.publish(client, json!({ "print": reply }));
        self.push(client, false);
    }

    fn carry_out(&mut self, command: &str, body: &Value) -> Result<(), (String, Option<u64>)> {
        let mut fw = self.state.lock().unwrap();
        if fw.refuse_control {
            return Err(("mqtt message verify failed".into(), Some(84_033_543)));
        }
        match command {
            "project_file" | "gcode_file" => {
                let name = match command {
                    "project_file" => body["url"]
                        .as_str()
                        .unwrap_or("")
                        .trim_start_matches("ftp:///"),
                    _ => body["param"].as_str().unwrap_or(""),
                };
                let bytes = std::fs::read(self.files.join(name))
                    .map_err(|e| (format!("cannot read {name}: {e}"), None))?;
                fw.printed.push(bytes);
                let subtask = body["subtask_name"].as_str().unwrap_or(name).to_owned();
                fw.print(&subtask, name);
            }
            "pause" if fw.gcode_state == "RUNNING" => fw.gcode_state = "PAUSE",
            "resume" if fw.gcode_state == "PAUSE" => fw.gcode_state = "RUNNING",
            "stop" if matches!(fw.gcode_state, "PREPARE" | "RUNNING" | "PAUSE") => {
                fw.gcode_state = "FAILED";
                fw.print_error = CANCELLED;
            }
            other => return Err((format!("{other} is not possible now"), None)),
        }
        Ok(())
    }
}
