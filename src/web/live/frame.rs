//! The text frames a live client is sent, each encoded once: the feed (`feed.rs`) turns an
//! event or a printer status into one `Frame` and hands every client a clone of it, which
//! shares the encoded bytes (a reference count, no copy, no second `serde_json` pass).
//!
//! Shapes (docs/openapi.json, `/api/ws`): `{"type":"snapshot", …/api/status…, "recent", "seq"}`,
//! `{"type":"event","event":EventJson}`, `{"type":"printer","printer":PrinterJson}`.

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;

use crate::events::Event;
use crate::gateway::{CommandError, Gateway, QueueSnapshot};
use crate::jobs::JobFilter;
use crate::web::api::certificate::CloudCertificate;
use crate::web::api::jobs::shown;
use crate::web::api::printers::StatusJson;
use crate::wire::{EventJson, JobJson, PrinterJson};

/// Jobs a snapshot lists under `recent`.
const RECENT_JOBS: u32 = 20;

/// One encoded server → client message.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    /// The event's `seq` for event frames (a client skips those its snapshot covers).
    event_seq: Option<u64>,
    text: Utf8Bytes,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Outgoing<'a> {
    Event { event: &'a EventJson },
    Printer { printer: &'a PrinterJson },
}

/// `/api/status`'s fields plus the recent jobs and the `seq` the snapshot is current to.
#[derive(Serialize)]
struct SnapshotJson {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    status: StatusJson,
    recent: Vec<JobJson>,
    seq: u64,
}

fn encode(message: &impl Serialize) -> Utf8Bytes {
    serde_json::to_string(message)
        .expect("wire types always serialize")
        .into()
}

impl Frame {
    pub(super) fn event(event: &Event) -> Frame {
        Frame {
            event_seq: Some(event.seq),
            text: encode(&Outgoing::Event {
                event: &EventJson::from(event),
            }),
        }
    }

    pub(super) fn printer(printer: &PrinterJson) -> Frame {
        Frame {
            event_seq: None,
            text: encode(&Outgoing::Printer { printer }),
        }
    }

    /// Whether a client whose snapshot is current to `seq` has this frame's content already.
    pub(super) fn covered_by(&self, seq: u64) -> bool {
        self.event_seq.is_some_and(|event| event <= seq)
    }

    /// The socket message: shares this frame's bytes.
    pub(super) fn message(&self) -> Message {
        Message::Text(self.text.clone())
    }

    #[cfg(test)]
    pub(super) fn text(&self) -> &str {
        &self.text
    }
}

/// A snapshot and the `seq` it is current to.
pub(super) struct Snapshot {
    pub(super) seq: u64,
    pub(super) frame: Frame,
}

impl Snapshot {
    /// Reads the queue, the recent jobs and the last `seq` in one store call and encodes them
    /// with `printers` (the statuses the feed last sent, so that no later frame is older).
    pub(super) async fn read(
        gateway: &Gateway,
        gateway_id: &str,
        cloud: Option<&CloudCertificate>,
        printers: Vec<PrinterJson>,
    ) -> Result<Snapshot, CommandError> {
        let recent = JobFilter {
            limit: RECENT_JOBS,
            ..JobFilter::default()
        };
        let QueueSnapshot {
            queue,
            recent,
            last_seq: seq,
        } = gateway.queue_snapshot(recent).await?;
        let text = encode(&SnapshotJson {
            kind: "snapshot",
            status: StatusJson::new(gateway, gateway_id, cloud, printers, &queue),
            recent: recent.iter().map(|j| shown(gateway, j)).collect(),
            seq,
        });
        let frame = Frame {
            event_seq: None,
            text,
        };
        Ok(Snapshot { seq, frame })
    }
}
