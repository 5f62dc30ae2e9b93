//! Moonraker's JSON-RPC 2.0, sans-IO: the calls the driver makes ([`Call`], a closed set),
//! requests framed with ids and the purpose each was sent for ([`Requests`]), and frames read
//! back as answers to those ids or as the notifications the driver acts on ([`parse`]).
//! The websocket carries these frames; over plain HTTP the same calls map to routes
//! (`http::route`), so both channels speak one vocabulary.

use std::collections::HashMap;

use serde_json::{Value, json};

/// The objects and fields the driver follows, for `printer.objects.subscribe` and `query`.
pub const OBJECTS: &[(&str, &[&str])] = &[
    (
        "print_stats",
        &[
            "state",
            "filename",
            "message",
            "print_duration",
            "filament_used",
        ],
    ),
    ("virtual_sdcard", &["progress"]),
    ("extruder", &["temperature", "target"]),
    ("heater_bed", &["temperature", "target"]),
    ("webhooks", &["state", "state_message"]),
];

/// How many recent jobs of Moonraker's history are searched for a job's outcome.
pub const HISTORY_LIMIT: u32 = 50;

/// Every call the driver makes to Moonraker.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `server.connection.identify` (websocket only).
    Identify {
        client_name: String,
    },
    /// `printer.info`: Klippy's state and message.
    PrinterInfo,
    /// `printer.objects.subscribe` with [`OBJECTS`] (websocket only).
    Subscribe,
    /// `printer.objects.query` with [`OBJECTS`].
    Query,
    /// `printer.print.start` of a file under `gcodes`.
    Start {
        filename: String,
    },
    Pause,
    Resume,
    Cancel,
    EmergencyStop,
    /// `printer.gcode.script`; only lines that passed the printer's safety caps.
    Script {
        script: String,
    },
    /// `server.history.list`, newest first.
    History,
    /// `server.files.delete_file` of a file under `gcodes`.
    Delete {
        filename: String,
    },
}

/// The gateway's version, as it identifies itself to Moonraker.
const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Moonraker lists it next to the client's name; the gateway has no public page to name.
const CLIENT_URL: &str = "urn:fluxprint-gateway";

impl Call {
    pub fn method(&self) -> &'static str {
        match self {
            Call::Identify { .. } => "server.connection.identify",
            Call::PrinterInfo => "printer.info",
            Call::Subscribe => "printer.objects.subscribe",
            Call::Query => "printer.objects.query",
            Call::Start { .. } => "printer.print.start",
            Call::Pause => "printer.print.pause",
            Call::Resume => "printer.print.resume",
            Call::Cancel => "printer.print.cancel",
            Call::EmergencyStop => "printer.emergency_stop",
            Call::Script { .. } => "printer.gcode.script",
            Call::History => "server.history.list",
            Call::Delete { .. } => "server.files.delete_file",
        }
    }

    pub fn params(&self) -> Value {
        match self {
            // An agent: a program acting for the printer, not a person's page.
            Call::Identify { client_name } => json!({
                "client_name": client_name,
                "version": CLIENT_VERSION,
                "type": "agent",
                "url": CLIENT_URL,
            }),
            Call::Subscribe | Call::Query => json!({ "objects": objects() }),
            Call::Start { filename } => json!({ "filename": filename }),
            Call::Script { script } => json!({ "script": script }),
            Call::History => json!({ "limit": HISTORY_LIMIT, "order": "desc" }),
            Call::Delete { filename } => json!({ "path": format!("gcodes/{filename}") }),
            Call::PrinterInfo | Call::Pause | Call::Resume | Call::Cancel | Call::EmergencyStop => {
                json!({})
            }
        }
    }
}

fn objects() -> Value {
    OBJECTS
        .iter()
        .map(|(name, fields)| (name.to_string(), json!(fields)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// An error answer: JSON-RPC's `error` (over HTTP: the status and message).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

/// Something Moonraker tells every client without being asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// `notify_status_update`: the subscribed fields that changed.
    StatusUpdate(Value),
    KlippyReady,
    KlippyShutdown,
    KlippyDisconnected,
}

/// One frame from Moonraker.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Answer {
        id: u64,
        result: Result<Value, RpcError>,
    },
    Notification(Notification),
    /// Another notification, or not JSON-RPC: nothing the driver acts on.
    Ignored,
}

/// Requests waiting for their answers, each with what it was sent for.
#[derive(Debug)]
pub struct Requests<P> {
    next_id: u64,
    pending: HashMap<u64, P>,
}

impl<P> Default for Requests<P> {
    fn default() -> Self {
        Requests {
            next_id: 1,
            pending: HashMap::new(),
        }
    }
}

impl<P> Requests<P> {
    /// The request's text, remembering `purpose` under its id.
    pub fn frame(&mut self, call: &Call, purpose: P) -> String {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, purpose);
        json!({"jsonrpc": "2.0", "method": call.method(), "params": call.params(), "id": id})
            .to_string()
    }

    /// The purpose of the request answered under `id`; `None` for an id never sent or
    /// already answered.
    pub fn answered(&mut self, id: u64) -> Option<P> {
        self.pending.remove(&id)
    }

    /// Requests still waiting for an answer.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

/// Reads one text frame.
pub fn parse(text: &str) -> Incoming {
    let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else {
        return Incoming::Ignored;
    };
    if let Some(id) = frame.get("id").and_then(Value::as_u64) {
        let result = match (frame.remove("result"), frame.get("error")) {
            (Some(result), None) => Ok(result),
            (_, Some(error)) => Err(RpcError {
                code: error["code"].as_i64().unwrap_or(0),
                message: error["message"].as_str().unwrap_or("no message").to_owned(),
            }),
            (None, None) => return Incoming::Ignored,
        };
        return Incoming::Answer { id, result };
    }
    let notification = match frame.get("method").and_then(Value::as_str) {
        Some("notify_status_update") => match frame.get_mut("params").map(Value::take) {
            Some(Value::Array(mut params)) if !params.is_empty() => {
                Notification::StatusUpdate(params.swap_remove(0))
            }
            _ => return Incoming::Ignored,
        },
        Some("notify_klippy_ready") => Notification::KlippyReady,
        Some("notify_klippy_shutdown") => Notification::KlippyShutdown,
        Some("notify_klippy_disconnected") => Notification::KlippyDisconnected,
        _ => return Incoming::Ignored,
    };
    Incoming::Notification(notification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_json_rpc_2_with_increasing_ids_and_their_answers_find_their_purpose() {
        let mut requests = Requests::default();
        let first = requests.frame(
            &Call::Start {
                filename: "fluxprint/job-7.gcode".into(),
            },
            "start",
        );
        let second = requests.frame(&Call::Pause, "pause");
        let first: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(first["jsonrpc"], "2.0");
        assert_eq!(first["method"], "printer.print.start");
        assert_eq!(first["params"]["filename"], "fluxprint/job-7.gcode");
        let second: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(
            second["id"].as_u64(),
            Some(first["id"].as_u64().unwrap() + 1)
        );
        assert_eq!(requests.waiting(), 2);
        let id = second["id"].as_u64().unwrap();
        assert_eq!(requests.answered(id), Some("pause"));
        assert_eq!(requests.answered(id), None, "an answer is taken once");
        assert_eq!(requests.waiting(), 1);
    }

    #[test]
    fn answers_carry_their_result_or_moonrakers_error() {
        assert_eq!(
            parse(r#"{"jsonrpc": "2.0", "result": "ok", "id": 4}"#),
            Incoming::Answer {
                id: 4,
                result: Ok(json!("ok"))
            }
        );
        assert_eq!(
            parse(r#"{"jsonrpc": "2.0", "error": {"code": 400, "message": "SD busy"}, "id": 5}"#),
            Incoming::Answer {
                id: 5,
                result: Err(RpcError {
                    code: 400,
                    message: "SD busy".into()
                })
            }
        );
    }

    #[test]
    fn the_notifications_the_driver_acts_on_are_read_and_the_others_ignored() {
        let update = r#"{"jsonrpc": "2.0", "method": "notify_status_update",
            "params": [{"print_stats": {"state": "complete"}}, 447.07]}"#;
        assert_eq!(
            parse(update),
            Incoming::Notification(Notification::StatusUpdate(
                json!({"print_stats": {"state": "complete"}})
            ))
        );
        for (method, expected) in [
            ("notify_klippy_ready", Notification::KlippyReady),
            ("notify_klippy_shutdown", Notification::KlippyShutdown),
            (
                "notify_klippy_disconnected",
                Notification::KlippyDisconnected,
            ),
        ] {
            let text = format!(r#"{{"jsonrpc": "2.0", "method": "{method}"}}"#);
            assert_eq!(parse(&text), Incoming::Notification(expected));
        }
        for ignored in [
            r#"{"jsonrpc": "2.0", "method": "notify_proc_stat_update", "params": [{}]}"#,
            r#"{"jsonrpc": "2.0", "method": "notify_status_update", "params": []}"#,
            r#"{"jsonrpc": "2.0", "id": 3}"#,
            "[1, 2]",
            "not json",
        ] {
            assert_eq!(parse(ignored), Incoming::Ignored, "{ignored}");
        }
    }

    #[test]
    fn subscription_and_query_ask_for_the_same_objects_and_the_agent_identifies_itself() {
        let subscribe = Call::Subscribe.params();
        assert_eq!(subscribe, Call::Query.params());
        assert_eq!(subscribe["objects"]["virtual_sdcard"], json!(["progress"]));
        assert_eq!(
            subscribe["objects"]["webhooks"],
            json!(["state", "state_message"])
        );
        let identify = Call::Identify {
            client_name: "fluxprint-gateway/voron".into(),
        }
        .params();
        assert_eq!(identify["type"], "agent");
        assert_eq!(identify["client_name"], "fluxprint-gateway/voron");
        let delete = Call::Delete {
            filename: "fluxprint/job-7.gcode".into(),
        };
        assert_eq!(delete.params()["path"], "gcodes/fluxprint/job-7.gcode");
    }
}
