//! What a Bambu printer publishes on `device/{serial}/report`, read as one state. Pure.
//!
//! X1 printers send the whole `print` object with every `push_status`; P1 and A1 printers
//! send only what changed since the last message (a full one only after `pushall`). Each
//! `push_status` is merged into the fields kept so far, and the [`Snapshot`] is read from the
//! merged fields, so both families look the same to the tracker. Any other `print` message
//! with a `result` is the answer to one of the gateway's requests.

use serde_json::{Map, Value};

use crate::domain::{Percent, Temperature, Temperatures};

/// `print.gcode_state`, as the firmware spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcodeState {
    Idle,
    /// Heating, levelling, loading the file: the print has started.
    Prepare,
    Slicing,
    Running,
    Pause,
    Finish,
    Failed,
    Unknown(String),
}

impl GcodeState {
    pub fn parse(text: &str) -> GcodeState {
        match text {
            "IDLE" => GcodeState::Idle,
            "PREPARE" | "INIT" => GcodeState::Prepare,
            "SLICING" => GcodeState::Slicing,
            "RUNNING" => GcodeState::Running,
            "PAUSE" => GcodeState::Pause,
            "FINISH" => GcodeState::Finish,
            "FAILED" => GcodeState::Failed,
            other => GcodeState::Unknown(other.to_owned()),
        }
    }

    /// A print is on the printer (running, paused or about to run).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            GcodeState::Prepare | GcodeState::Slicing | GcodeState::Running | GcodeState::Pause
        )
    }
}

/// One look at the printer, from the merged report.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: GcodeState,
    pub percent: Option<Percent>,
    /// `mc_remaining_time`, in minutes.
    pub remaining_min: Option<u64>,
    pub layer: Option<(u64, u64)>,
    pub temperatures: Option<Temperatures>,
    /// `print_error`: 0 when none.
    pub print_error: u64,
    /// HMS codes, each as the printer's `attr` and `code`.
    pub hms: Vec<(u64, u64)>,
    /// The print's name (`subtask_name`): the gateway names its jobs' prints.
    pub subtask: Option<String>,
    pub gcode_file: Option<String>,
}

/// The printer's answer to a request of the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub command: String,
    pub sequence_id: Option<String>,
    /// `success`, or `fail`/`failed` with a `reason` and maybe an `err_code`.
    pub ok: bool,
    pub reason: Option<String>,
    pub err_code: Option<u64>,
}

/// What one report message was.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A status (full or delta); read [`Report::snapshot`].
    Status,
    Answer(Answer),
    /// Something the driver does not use (info, system, camera messages).
    Other,
}

/// The printer's state so far: every status field ever reported, the newest value of each.
#[derive(Debug, Default)]
pub struct Report {
    print: Map<String, Value>,
    /// A full status (an answer to `pushall` or an X1's push) has arrived: until then a
    /// delta may lack the state itself.
    complete: bool,
}

impl Report {
    pub fn new() -> Report {
        Report::default()
    }

    /// Forgets everything (a new connection asks for the whole state again).
    pub fn reset(&mut self) {
        *self = Report::default();
    }

    /// Reads one message from the report topic.
    pub fn merge(&mut self, payload: &[u8]) -> Result<Message, serde_json::Error> {
        let value: Value = serde_json::from_slice(payload)?;
        let Some(Value::Object(print)) = value.get("print") else {
            return Ok(Message::Other);
        };
        let command = print.get("command").and_then(Value::as_str).unwrap_or("");
        if command == "push_status" {
            if print.contains_key("gcode_state") {
                self.complete = true;
            }
            for (key, field) in print {
                self.print.insert(key.clone(), field.clone());
            }
            return Ok(Message::Status);
        }
        let Some(result) = print.get("result").and_then(Value::as_str) else {
            return Ok(Message::Other);
        };
        Ok(Message::Answer(Answer {
            command: command.to_owned(),
            sequence_id: print.get("sequence_id").map(text),
            ok: result.eq_ignore_ascii_case("success"),
            reason: print.get("reason").map(text).filter(|r| !r.is_empty()),
            err_code: print.get("err_code").and_then(number),
        }))
    }

    /// The state read from every field so far; `None` until the state itself was reported.
    pub fn snapshot(&self) -> Option<Snapshot> {
        if !self.complete {
            return None;
        }
        let field = |name: &str| self.print.get(name);
        let num = |name: &str| field(name).and_then(number);
        let float = |name: &str| field(name).and_then(float);
        let heater = |actual: &str, target: &str| {
            float(actual).map(|actual_c| Temperature {
                actual_c,
                target_c: float(target).filter(|t| *t > 0.0),
            })
        };
        let hotend = heater("nozzle_temper", "nozzle_target_temper");
        let bed = heater("bed_temper", "bed_target_temper");
        let temperatures = (hotend.is_some() || bed.is_some()).then(|| Temperatures {
            hotends: hotend.into_iter().collect(),
            bed,
        });
        let hms = match field("hms") {
            Some(Value::Array(codes)) => codes
                .iter()
                .filter_map(|c| Some((number(c.get("attr")?)?, number(c.get("code")?)?)))
                .collect(),
            _ => Vec::new(),
        };
        Some(Snapshot {
            state: GcodeState::parse(field("gcode_state").and_then(Value::as_str).unwrap_or("")),
            percent: num("mc_percent").map(|p| Percent::new(p.min(100) as u8)),
            remaining_min: num("mc_remaining_time"),
            layer: num("layer_num").zip(num("total_layer_num")),
            temperatures,
            print_error: num("print_error").unwrap_or(0),
            hms,
            subtask: field("subtask_name").map(text).filter(|s| !s.is_empty()),
            gcode_file: field("gcode_file").map(text).filter(|s| !s.is_empty()),
        })
    }
}

/// A string field, or a number written as one (firmwares differ).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What a `print_error` or HMS code means, where it is known (the codes the firmware shows
/// most; the rest are given as numbers, which Bambu's wiki looks up).
pub fn error_text(print_error: u64, hms: &[(u64, u64)]) -> Option<String> {
    let mut parts = Vec::new();
    if print_error != 0 {
        let known = match print_error {
            0x0300_400C | 0x0500_8014 => Some("the print was cancelled"),
            0x0700_8012 | 0x0700_8011 => Some("filament ran out"),
            0x0300_800A => Some("the first layer inspection found a problem"),
            0x0C00_8005 | 0x0C00_C003 => Some("spaghetti detected"),
            0x0300_8001 => Some("the nozzle temperature is abnormal"),
            0x0300_8003 => Some("the heatbed temperature is abnormal"),
            _ => None,
        };
        let code = format!("{:04X}_{:04X}", print_error >> 16, print_error & 0xFFFF);
        parts.push(match known {
            Some(text) => format!("{text} (print_error {code})"),
            None => format!("print_error {code}"),
        });
    }
    for (attr, code) in hms {
        parts.push(format!(
            "HMS_{:04X}_{:04X}_{:04X}_{:04X}",
            attr >> 16,
            attr & 0xFFFF,
            code >> 16,
            code & 0xFFFF
        ));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_merged_into_the_last_full_state() {
        let mut report = Report::new();
        let delta = br#"{"print":{"command":"push_status","mc_percent":5}}"#;
        assert_eq!(report.merge(delta).unwrap(), Message::Status);
        assert_eq!(report.snapshot(), None, "no state before a full report");
        let full = br#"{"print":{"command":"push_status","gcode_state":"RUNNING","mc_percent":4,
            "subtask_name":"fluxprint-job-3","nozzle_temper":219.5,"nozzle_target_temper":220,
            "bed_temper":60,"bed_target_temper":60,"layer_num":2,"total_layer_num":40}}"#;
        report.merge(full).unwrap();
        report.merge(delta).unwrap();
        let snapshot = report.snapshot().unwrap();
        assert_eq!(snapshot.state, GcodeState::Running);
        assert_eq!(snapshot.percent, Some(Percent::new(5)));
        assert_eq!(snapshot.subtask.as_deref(), Some("fluxprint-job-3"));
        assert_eq!(snapshot.layer, Some((2, 40)));
        let temps = snapshot.temperatures.unwrap();
        assert_eq!(temps.hotends[0].target_c, Some(220.0));
    }

    #[test]
    fn answers_carry_their_result_and_reason() {
        let mut report = Report::new();
        let answer = br#"{"print":{"command":"project_file","sequence_id":"7","result":"failed",
            "reason":"mqtt message verify failed","err_code":84033543}}"#;
        let Message::Answer(answer) = report.merge(answer).unwrap() else {
            panic!("an answer");
        };
        assert!(!answer.ok);
        assert_eq!(answer.sequence_id.as_deref(), Some("7"));
        assert_eq!(answer.err_code, Some(84033543));
    }

    #[test]
    fn error_codes_are_named_where_known() {
        assert_eq!(
            error_text(0x0700_8012, &[]).unwrap(),
            "filament ran out (print_error 0700_8012)"
        );
        assert_eq!(
            error_text(0, &[(0x0300_0100, 0x0001_0001)]).unwrap(),
            "HMS_0300_0100_0001_0001"
        );
        assert_eq!(error_text(0, &[]), None);
    }
}
