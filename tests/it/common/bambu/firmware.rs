//! The emulated firmware of a Bambu printer: an MQTT client on its broker's local listener
//! that answers `device/{serial}/request` as OpenBambuAPI's mqtt.md describes, prints the
//! file vsftpd received (progress on a 100 ms tick), and reports on `device/{serial}/report`
//! like an X1 (the whole state every time) or a P1 (only what changed).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ACCESS_CODE, CANCELLED, Printer};

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
    /// Still booting: reports nothing and ignores this many `pushall`s more; the next one
    /// is answered and ends it.
    pub booting: Option<u32>,
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
            booting: None,
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
        let status = {
            let fw = self.state.lock().unwrap();
            if fw.booting.is_some() {
                return;
            }
            fw.status()
        };
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
            let mut fw = self.state.lock().unwrap();
            match fw.booting {
                Some(0) | None => fw.booting = None,
                Some(n) => return fw.booting = Some(n - 1),
            }
            drop(fw);
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
