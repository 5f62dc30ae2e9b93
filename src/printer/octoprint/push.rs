//! OctoPrint's push channel: the raw websocket at `/sockjs/websocket` (`wss://` for an
//! `https://` OctoPrint, with the REST client's TLS settings), authenticated with a
//! session from a passive login (`{"auth": "name:session"}`). Its messages become snapshots
//! (`current` and `history`, at most twice a second), print events, requests to look again
//! (connection events) and `reauthRequired`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::rest::{Rest, RestError, snapshot_of, temperatures_of};
use super::track::{PrintEvent, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Login(#[from] RestError),
    #[error("OctoPrint's push channel at {url}: {source}")]
    Socket {
        url: String,
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },
    #[error("OctoPrint closed its push channel")]
    Closed,
}

/// What one push message means to the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Pushed {
    Snapshot(Snapshot),
    Event(PrintEvent),
    /// OctoPrint connected to, lost or faulted its printer: take a fresh snapshot.
    LookAgain,
    /// The session expired (OctoPrint restarted its user handling): log in again.
    ReauthRequired,
}

pub struct Push {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    url: String,
}

impl Push {
    /// Logs in passively and opens the authenticated channel.
    pub async fn open(rest: &Rest) -> Result<Push, PushError> {
        let mut url = rest.base().clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Only http(s) URLs reach the driver, and both have ws counterparts.
        let _ = url.set_scheme(scheme);
        let path = format!("{}/sockjs/websocket", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let url = url.to_string();
        // The connector is used only for wss://; ws:// stays plain.
        let connector = Connector::Rustls(rest.tls());
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            false,
            Some(connector),
        )
        .await
        .map_err(|source| PushError::Socket {
            url: url.clone(),
            source,
        })?;
        let mut push = Push { socket, url };
        push.authenticate(rest).await?;
        Ok(push)
    }

    pub async fn authenticate(&mut self, rest: &Rest) -> Result<(), PushError> {
        let (name, session) = rest.passive_login().await?;
        let auth = json!({"auth": format!("{name}:{session}")}).to_string();
        self.socket
            .send(Message::text(auth))
            .await
            .map_err(|source| self.socket_error(source))
    }

    /// The next messages that matter; `Err` when the channel broke.
    pub async fn next(&mut self) -> Result<Vec<Pushed>, PushError> {
        loop {
            let frame = self.socket.next().await.ok_or(PushError::Closed)?;
            match frame.map_err(|source| self.socket_error(source))? {
                Message::Text(text) => {
                    let pushed = parse(&text);
                    if !pushed.is_empty() {
                        return Ok(pushed);
                    }
                }
                Message::Close(_) => return Err(PushError::Closed),
                // Pings are answered by the socket itself on the next read.
                _ => {}
            }
        }
    }

    fn socket_error(&self, source: tokio_tungstenite::tungstenite::Error) -> PushError {
        PushError::Socket {
            url: self.url.clone(),
            source,
        }
    }
}

/// One push frame (a JSON object; each key is a message) as what the driver acts on.
pub fn parse(text: &str) -> Vec<Pushed> {
    let Ok(Value::Object(messages)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    messages
        .iter()
        .filter_map(|(kind, body)| match kind.as_str() {
            "current" | "history" => Some(Pushed::Snapshot(current(body))),
            "event" => event(body),
            "reauthRequired" => Some(Pushed::ReauthRequired),
            _ => None,
        })
        .collect()
}

fn current(body: &Value) -> Snapshot {
    let mut snapshot = snapshot_of(body, &body["state"]);
    let latest = body["temps"].as_array().and_then(|t| t.last());
    snapshot.temperatures = latest.and_then(temperatures_of);
    snapshot
}

fn event(body: &Value) -> Option<Pushed> {
    let payload = &body["payload"];
    let path = || -> Option<String> {
        let local = payload["origin"].as_str().is_none_or(|o| o == "local");
        payload["path"]
            .as_str()
            .filter(|_| local)
            .map(str::to_owned)
    };
    let print = match body["type"].as_str()? {
        "PrintStarted" => PrintEvent::Started { path: path()? },
        "PrintPaused" => PrintEvent::Paused { path: path()? },
        "PrintResumed" => PrintEvent::Resumed { path: path()? },
        "PrintDone" => PrintEvent::Done { path: path()? },
        "PrintCancelled" => PrintEvent::Cancelled { path: path()? },
        "PrintFailed" => PrintEvent::Failed {
            path: path()?,
            reason: payload["reason"].as_str().unwrap_or("error").to_owned(),
        },
        "Connected" | "Disconnected" | "Error" | "PrinterStateChanged" => {
            return Some(Pushed::LookAgain);
        }
        _ => return None,
    };
    Some(Pushed::Event(print))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::octoprint::state::OctoState;

    #[test]
    fn a_current_message_becomes_a_snapshot_with_the_latest_temperatures() {
        let text = r#"{"current": {"state": {"text": "Printing", "error": ""},
            "job": {"file": {"path": "fluxprint/job-3.gcode", "origin": "local"}},
            "progress": {"completion": 12.5},
            "temps": [{"tool0": {"actual": 20.0, "target": 0.0}},
                      {"tool0": {"actual": 200.5, "target": 210.0}, "bed": {"actual": 60.0, "target": 60.0}}]}}"#;
        let [Pushed::Snapshot(s)] = <[Pushed; 1]>::try_from(parse(text)).unwrap() else {
            panic!("expected one snapshot");
        };
        assert_eq!(s.state, OctoState::Printing);
        assert_eq!(s.file.as_deref(), Some("fluxprint/job-3.gcode"));
        assert_eq!(s.completion, Some(12.5));
        let temps = s.temperatures.unwrap();
        assert_eq!(temps.hotends[0].actual_c, 200.5);
        assert_eq!(temps.hotends[0].target_c, Some(210.0));
        assert_eq!(temps.bed.unwrap().actual_c, 60.0);
    }

    #[test]
    fn print_events_carry_the_local_path_and_sd_card_prints_are_not_ours() {
        let failed = r#"{"event": {"type": "PrintFailed", "payload":
            {"path": "fluxprint/job-3.gcode", "origin": "local", "reason": "cancelled"}}}"#;
        assert_eq!(
            parse(failed),
            vec![Pushed::Event(PrintEvent::Failed {
                path: "fluxprint/job-3.gcode".into(),
                reason: "cancelled".into()
            })]
        );
        let sd = r#"{"event": {"type": "PrintStarted", "payload": {"path": "x.gco", "origin": "sdcard"}}}"#;
        assert!(parse(sd).is_empty());
    }

    #[test]
    fn connection_events_ask_for_a_fresh_look_and_other_messages_are_ignored() {
        let text = r#"{"event": {"type": "Disconnected", "payload": {}}}"#;
        assert_eq!(parse(text), vec![Pushed::LookAgain]);
        assert_eq!(
            parse(r#"{"reauthRequired": {"reason": "logout"}}"#),
            vec![Pushed::ReauthRequired]
        );
        assert!(parse(r#"{"connected": {"version": "1.11.2"}}"#).is_empty());
        assert!(parse("not json").is_empty());
    }
}
