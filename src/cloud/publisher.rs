//! Store-and-forward of events: every event is in the SQLite outbox before anything here sees
//! it; this task publishes the outbox in `seq` order on `events` (QoS 1), at most `WINDOW`
//! unacknowledged at a time, resumes after the highest `seq` the broker acknowledged (kept in
//! the store's `meta` table, so a restart resumes there too), rewinds when the broker lost our
//! session and when the cloud asks for a replay. A second task saves that `seq` and applies the
//! outbox retention limits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::QoS;
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::gate::{Gate, LinkState};
use super::mqtt::Message;
use super::session::Tag;
use crate::config::LinkOptions;
use crate::events::Event;
use crate::gateway::{CommandError, Gateway};
use crate::jobs::StoreError;
use crate::wire::EventJson;

/// The `meta` key holding the highest event `seq` the broker acknowledged.
pub const ACKED_SEQ_KEY: &str = "cloud.broker_acked_seq";
/// Event publishes not yet acknowledged by the broker, at most.
pub(super) const WINDOW: usize = 256;
/// Events read from the outbox per query.
const BATCH: u32 = 128;
/// How often a full window is re-checked without news.
const WINDOW_RECHECK: Duration = Duration::from_millis(250);
/// How often the acknowledged `seq` is written (one small write, not one per event).
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How often the retention limits are applied.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// `events.replay` requests waiting for the publisher: the earliest `from` wins.
#[derive(Debug, Default)]
pub struct Replays {
    /// Held only to read or update the one value.
    from: Mutex<Option<u64>>,
    wake: Notify,
}

impl Replays {
    pub fn request(&self, from: u64) {
        let mut pending = self.from.lock().unwrap_or_else(|e| e.into_inner());
        *pending = Some(pending.map_or(from, |earlier| earlier.min(from)));
        self.wake.notify_one();
    }

    fn take(&self) -> Option<u64> {
        self.from.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

pub fn event_message(topic: &str, event: &Event) -> Message {
    let payload = serde_json::to_vec(&EventJson::from(event)).expect("events always serialise");
    Message {
        topic: topic.to_owned(),
        payload,
        qos: QoS::AtLeastOnce,
        retain: false,
        correlation: None,
    }
}

/// Publishes the outbox until `shutdown`, rewinding for `events.replay` requests.
pub async fn publish_events(
    gate: Arc<Gate>,
    gateway: Gateway,
    topic: String,
    replays: Arc<Replays>,
    shutdown: CancellationToken,
) {
    let mut committed = gateway.subscribe();
    let mut link = gate.link();
    let mut acked = gate.acked();
    let mut cursor = *acked.borrow() + 1;
    let mut epoch = 0;
    loop {
        let state = link.borrow_and_update().clone();
        let LinkState::Connected {
            epoch: now,
            session_present,
        } = state
        else {
            tokio::select! {
                _ = link.changed() => continue,
                _ = shutdown.cancelled() => return,
            }
        };
        if now != epoch {
            // A resumed session retransmits what was in flight; a fresh one lost it.
            if !session_present {
                cursor = *acked.borrow() + 1;
            }
            epoch = now;
        }
        drain(&mut committed);
        if let Some(from) = replays.take() {
            cursor = from.max(1);
        }
        let room = WINDOW.saturating_sub(gate.events_in_flight());
        let batch = if room == 0 {
            Vec::new()
        } else {
            let after = cursor - 1;
            let limit = BATCH.min(room as u32);
            match gateway.events_after(after, limit).await {
                Ok(batch) => batch,
                Err(CommandError::Store(StoreError::Stopped)) => return,
                Err(e) => {
                    tracing::error!(error = %e, "reading the events outbox");
                    Vec::new()
                }
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = next_commit(&mut committed) => {}
                _ = replays.wake.notified() => {}
                _ = acked.changed(), if room == 0 => {}
                // Acknowledgements of resent events free the window without a new `seq`.
                _ = tokio::time::sleep(WINDOW_RECHECK), if room == 0 => {}
                _ = link.changed() => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        }
        for event in &batch {
            let message = event_message(&topic, event);
            if gate.publish(&message, Tag::Event(event.seq)).await.is_err() {
                return;
            }
            cursor = event.seq + 1;
        }
    }
}

/// Forgets commit notices already covered by the next outbox read.
fn drain(committed: &mut broadcast::Receiver<Event>) {
    use broadcast::error::TryRecvError;
    while !matches!(
        committed.try_recv(),
        Err(TryRecvError::Empty | TryRecvError::Closed)
    ) {}
}

/// Waits for the store to commit another event (a lag only means there are several).
async fn next_commit(committed: &mut broadcast::Receiver<Event>) {
    match committed.recv().await {
        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

/// Saves the acknowledged `seq` now and then, applies the outbox retention limits, and saves
/// once more at shutdown.
pub async fn keep_outbox(
    gateway: Gateway,
    mut acked: watch::Receiver<u64>,
    options: LinkOptions,
    shutdown: CancellationToken,
) {
    let mut saved = *acked.borrow_and_update();
    let mut save = tokio::time::interval(SAVE_EVERY);
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = save.tick() => {
                let now = *acked.borrow();
                saved = save_acked(&gateway, now, saved).await;
            }
            _ = sweep.tick() => sweep_outbox(&gateway, &options).await,
            _ = shutdown.cancelled() => {
                let now = *acked.borrow();
                save_acked(&gateway, now, saved).await;
                return;
            }
        }
    }
}

async fn save_acked(gateway: &Gateway, acked: u64, saved: u64) -> u64 {
    if acked == saved {
        return saved;
    }
    match gateway.save_seq(ACKED_SEQ_KEY, acked).await {
        Ok(()) => acked,
        Err(e) => {
            tracing::warn!(error = %e, "saving the broker-acknowledged event seq");
            saved
        }
    }
}

async fn sweep_outbox(gateway: &Gateway, options: &LinkOptions) {
    let (max_events, max_age) = (options.outbox_max_events, options.outbox_max_age);
    let swept = gateway.prune_outbox(max_events, max_age).await;
    match swept {
        Ok(Some((first, last))) => tracing::warn!(
            first,
            last,
            "unacknowledged events passed the outbox retention limits and were dropped"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "applying the outbox retention limits"),
    }
}

/// The `seq` to resume after: the saved one, but never beyond the newest event (a replaced
/// database starts again from its own first event).
pub async fn resume_point(gateway: &Gateway) -> Result<u64, CommandError> {
    gateway.saved_seq(ACKED_SEQ_KEY).await
}
