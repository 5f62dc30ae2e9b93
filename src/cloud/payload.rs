//! The cloud contract's topics and envelopes: commands in (`cmd/{name}`, checked for size,
//! JSON, version and the fields every command has), replies out (`reply`). The names of the
//! commands and their typed arguments live in `cmd` (the wire shapes of the arguments in
//! `args`).

use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::wire::{ErrorJson, VERSION};

/// Every command the gateway answers (`fluxprint/{id}/cmd/{name}`), from the command table.
pub use super::cmd::COMMANDS;

/// Longest command id accepted (ids are stored, so they are bounded).
pub const MAX_ID_CHARS: usize = 128;

/// The gateway's topics, all under `fluxprint/{gateway_id}`.
#[derive(Debug, Clone)]
pub struct Topics {
    root: String,
}

impl Topics {
    pub fn new(gateway_id: &str) -> Topics {
        Topics {
            root: format!("fluxprint/{gateway_id}"),
        }
    }

    /// The subscription for every command. `#`, not `+`: RabbitMQ maps the `.` of a topic
    /// to its word separator, so `cmd/job.submit` reaches us as `cmd/job/submit` (see
    /// `command_name`), which `cmd/+` would not match there.
    pub fn commands(&self) -> String {
        format!("{}/cmd/#", self.root)
    }

    pub fn reply(&self) -> String {
        format!("{}/reply", self.root)
    }

    pub fn events(&self) -> String {
        format!("{}/events", self.root)
    }

    pub fn state(&self) -> String {
        format!("{}/state", self.root)
    }

    pub fn telemetry(&self) -> String {
        format!("{}/telemetry", self.root)
    }

    /// The command name in a command topic. Command names have no `/`, so one found after
    /// `cmd/` was a `.` that the broker turned into a level separator (RabbitMQ 3.x).
    pub fn command_name(&self, topic: &str) -> Option<String> {
        let name = topic.strip_prefix(&self.root)?.strip_prefix("/cmd/")?;
        Some(name.replace('/', "."))
    }
}

/// A command's envelope that passed the checks every command gets; what its `args` say is
/// read by the command itself (`cmd`).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: String,
    pub printer: Option<String>,
    pub args: Value,
}

/// Why a command is answered with an error; `code()` goes on the wire.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the command is {size} bytes; at most {max} are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("the payload is not a JSON object: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("envelope version {0} is not supported; this gateway speaks version 1")]
    Version(u64),
    #[error("{0}")]
    Field(String),
    #[error("unknown command {0:?}")]
    Unknown(String),
    #[error("invalid args: {0}")]
    Args(#[source] serde_json::Error),
    #[error("the file could not be fetched: {0}")]
    Fetch(String),
    #[error("no estimate: {0}")]
    Estimate(String),
    #[error("update refused: {0}")]
    Update(String),
    #[error("update rolled back: {0}")]
    RolledBack(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TooLarge { .. } => "too_large",
            Refusal::Malformed(_) => "malformed",
            Refusal::Version(_) => "unsupported_version",
            Refusal::Field(_) | Refusal::Args(_) => "invalid",
            Refusal::Unknown(_) => "unknown_command",
            Refusal::Fetch(_) => "fetch_failed",
            Refusal::Estimate(_) => "estimate_failed",
            Refusal::Update(_) => "update_refused",
            Refusal::RolledBack(_) => "update_rolled_back",
        }
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    v: Option<Value>,
    id: Option<Value>,
    printer: Option<Value>,
    #[serde(default)]
    args: Option<Value>,
}

/// Checks a command payload's envelope, whatever the command. On refusal, returns the command
/// id when one could be read, so the error reply can name it.
pub fn check(payload: &[u8], max: usize) -> Result<Envelope, (Option<String>, Refusal)> {
    if payload.len() > max {
        let refusal = Refusal::TooLarge {
            size: payload.len(),
            max,
        };
        return Err((None, refusal));
    }
    let envelope: RawEnvelope =
        serde_json::from_slice(payload).map_err(|e| (None, Refusal::Malformed(e)))?;
    let id = match envelope.id {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_ID_CHARS => id,
        _ => {
            let problem = format!("\"id\" must be a string of 1 to {MAX_ID_CHARS} characters");
            return Err((None, Refusal::Field(problem)));
        }
    };
    let refuse = |refusal| Err((Some(id.clone()), refusal));
    match envelope.v {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(VERSION)) => {}
        Some(Value::Number(n)) => return refuse(Refusal::Version(n.as_u64().unwrap_or(0))),
        _ => return refuse(Refusal::Field("\"v\" must be the number 1".into())),
    }
    let printer = match envelope.printer {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p),
        Some(_) => return refuse(Refusal::Field("\"printer\" must be a string".into())),
    };
    let args = match envelope.args {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(args @ Value::Object(_)) => args,
        Some(_) => return refuse(Refusal::Field("\"args\" must be an object".into())),
    };
    Ok(Envelope { id, printer, args })
}

/// `{"v":1,"id":…,"ok":true,"result":…}` or `{"v":1,"id":…,"ok":false,"error":{…}}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reply {
    pub v: u32,
    /// `null` only when the command's id could not be read.
    pub id: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorJson>,
}

impl Reply {
    pub fn ok(id: &str, result: Value) -> Reply {
        Reply {
            v: VERSION,
            id: Some(id.to_owned()),
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn error(id: Option<&str>, code: &str, message: String) -> Reply {
        Reply {
            v: VERSION,
            id: id.map(str::to_owned),
            ok: false,
            result: None,
            error: Some(ErrorJson {
                code: code.to_owned(),
                message,
            }),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("replies always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(payload: &str) -> (Option<String>, &'static str) {
        let (id, r) = check(payload.as_bytes(), 1024).unwrap_err();
        (id, r.code())
    }

    #[test]
    fn a_well_formed_command_is_read_with_empty_args_by_default() {
        let c = check(br#"{"v":1,"id":"a","printer":"mk3s"}"#, 1024).unwrap();
        assert_eq!(c.id, "a");
        assert_eq!(c.printer.as_deref(), Some("mk3s"));
        assert_eq!(c.args, serde_json::json!({}));
    }

    #[test]
    fn bad_envelopes_are_refused_with_their_id_when_it_can_be_read() {
        assert_eq!(refusal("not json"), (None, "malformed"));
        assert_eq!(refusal(r#"{"v":1}"#), (None, "invalid"));
        assert_eq!(
            refusal(r#"{"v":2,"id":"x"}"#),
            (Some("x".into()), "unsupported_version")
        );
        assert_eq!(refusal(r#"{"id":"x"}"#), (Some("x".into()), "invalid"));
        assert_eq!(
            refusal(r#"{"v":1,"id":"x","args":[]}"#),
            (Some("x".into()), "invalid")
        );
        let long = format!(r#"{{"v":1,"id":"{}"}}"#, "x".repeat(129));
        assert_eq!(refusal(&long), (None, "invalid"));
    }

    #[test]
    fn an_oversized_command_is_refused_before_it_is_parsed() {
        let (_, r) = check(&[b'{'; 2000], 1024).unwrap_err();
        assert_eq!(r.code(), "too_large");
    }

    #[test]
    fn command_topics_name_the_command() {
        let t = Topics::new("gw-1");
        assert_eq!(
            t.command_name("fluxprint/gw-1/cmd/job.submit").as_deref(),
            Some("job.submit")
        );
        assert_eq!(
            t.command_name("fluxprint/gw-1/cmd/job/submit").as_deref(),
            Some("job.submit"),
            "RabbitMQ delivers the dot as a level separator"
        );
        assert_eq!(t.command_name("fluxprint/gw-2/cmd/job.submit"), None);
        assert_eq!(t.commands(), "fluxprint/gw-1/cmd/#");
    }
}
