//! What the cloud sees of the printers between events: the retained `state` snapshot
//! (online, version, each printer's state, temperatures and current job), published on every
//! connection and whenever a printer's state changes, and `telemetry` (temperatures and
//! progress) every few seconds at QoS 0 — dropped rather than queued when the link is busy
//! or down, since a newer sample follows.

use std::sync::Arc;

use futures_util::future::select_all;
use rumqttc::QoS;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::enroll::Issued;
use super::gate::Gate;
use super::mqtt::Message;
use super::payload::Topics;
use super::session::Tag;
use crate::config::LinkOptions;
use crate::domain::PrinterState;
use crate::gateway::Gateway;
use crate::printer::PrinterStatus;
use crate::wire::{self, ExternalJson, PrinterJson, TemperaturesJson, VERSION};

/// The retained `state` payload.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StateJson {
    pub v: u32,
    pub online: bool,
    pub version: &'static str,
    pub printers: Vec<PrinterJson>,
    /// The link's client certificate (renewal changes it; the backend sees it age).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateJson>,
}

/// The validity of the certificate the gateway connects with, in Unix seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertificateJson {
    pub not_before: i64,
    pub not_after: i64,
}

pub fn state_json(gateway: &Gateway, online: bool, certificate: Option<&Issued>) -> StateJson {
    StateJson {
        v: VERSION,
        online,
        version: env!("CARGO_PKG_VERSION"),
        certificate: certificate.map(|c| CertificateJson {
            not_before: c.not_before,
            not_after: c.not_after,
        }),
        printers: gateway
            .printer_statuses()
            .iter()
            .map(PrinterJson::from)
            .collect(),
    }
}

/// The last will and the clean goodbye: `{"v":1,"online":false}`.
pub fn offline_payload() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "v": VERSION, "online": false }))
        .expect("a literal serialises")
}

#[derive(Debug, Serialize)]
struct TelemetryJson {
    v: u32,
    at: String,
    printers: Vec<PrinterSample>,
}

#[derive(Debug, Serialize)]
struct PrinterSample {
    id: String,
    state: &'static str,
    job: Option<i64>,
    progress: Option<u8>,
    remaining_time: Option<u64>,
    temperatures: TemperaturesJson,
}

fn sample(statuses: &[PrinterStatus]) -> TelemetryJson {
    TelemetryJson {
        v: VERSION,
        at: wire::time(time::OffsetDateTime::now_utc()),
        printers: statuses
            .iter()
            .map(|s| PrinterSample {
                id: s.id.to_string(),
                state: s.state.as_str(),
                job: s.current.map(|c| c.job.0),
                progress: s.current.map(|c| c.progress.get()),
                remaining_time: s.current.and_then(|c| c.remaining).map(|r| r.corrected_s),
                temperatures: TemperaturesJson::from(&s.temperatures),
            })
            .collect(),
    }
}

pub struct Reporter {
    pub gateway: Gateway,
    pub gate: Arc<Gate>,
    pub topics: Topics,
    pub options: LinkOptions,
    pub certificate: watch::Receiver<Option<Issued>>,
}

impl Reporter {
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut printers: Vec<watch::Receiver<PrinterStatus>> =
            self.gateway.printers().iter().map(|p| p.watch()).collect();
        let mut link = self.gate.link();
        let mut last_states = self.states();
        let mut pace = self.pace();
        let mut tick = tokio::time::interval(pace);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.pace() != pace {
                pace = self.pace();
                tick = tokio::time::interval_at(tokio::time::Instant::now() + pace, pace);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            }
            tokio::select! {
                _ = tick.tick() => self.send_telemetry(&self.gateway.printer_statuses()),
                _ = any_change(&mut printers) => {
                    let states = self.states();
                    if states != last_states {
                        last_states = states;
                        self.send_state().await;
                    }
                }
                changed = link.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if link.borrow_and_update().is_connected() {
                        self.send_state().await;
                    }
                }
                changed = self.certificate.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.send_state().await;
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// The telemetry interval: shorter while any printer prints.
    fn pace(&self) -> std::time::Duration {
        let printing = self
            .gateway
            .printer_statuses()
            .iter()
            .any(|s| matches!(s.state, PrinterState::Printing { .. }));
        if printing {
            self.options.telemetry_printing
        } else {
            self.options.telemetry_idle
        }
    }

    /// What makes the retained state change: each printer's state and job, not temperatures.
    fn states(&self) -> Vec<PrinterJson> {
        self.gateway
            .printer_statuses()
            .iter()
            .map(|s| {
                let json = PrinterJson::from(s);
                PrinterJson {
                    progress: None,
                    remaining_time: None,
                    remaining_time_raw: None,
                    // An external print's file is part of the state; its progress is not.
                    external: json.external.clone().map(|e| ExternalJson {
                        progress: None,
                        ..e
                    }),
                    temperatures: TemperaturesJson {
                        hotends: Vec::new(),
                        bed: None,
                    },
                    ..json
                }
            })
            .collect()
    }

    fn send_telemetry(&self, statuses: &[PrinterStatus]) {
        let payload = serde_json::to_vec(&sample(statuses)).expect("telemetry serialises");
        self.gate.publish_or_drop(&Message {
            topic: self.topics.telemetry(),
            payload,
            qos: QoS::AtMostOnce,
            retain: false,
            correlation: None,
        });
    }

    async fn send_state(&self) {
        if !self.gate.is_connected() {
            return; // published again on the next connection
        }
        let certificate = self.certificate.borrow().clone();
        let payload = serde_json::to_vec(&state_json(&self.gateway, true, certificate.as_ref()))
            .expect("state serialises");
        let message = Message {
            topic: self.topics.state(),
            payload,
            qos: QoS::AtLeastOnce,
            retain: true,
            correlation: None,
        };
        // Err only when the link stopped; this task stops with it.
        let _ = self.gate.publish(&message, Tag::Other).await;
    }
}

/// Waits until any printer's status changes (forever when there are none or all stopped).
async fn any_change(printers: &mut [watch::Receiver<PrinterStatus>]) {
    if printers.is_empty() {
        return std::future::pending().await;
    }
    let changes = printers.iter_mut().map(|p| Box::pin(p.changed()));
    let (result, _, _) = select_all(changes).await;
    if result.is_err() {
        std::future::pending::<()>().await;
    }
}
