//! The one way out to the broker. Every publish goes through the [`Gate`], which hands it to
//! rumqttc's bounded request queue without waiting inside a lock, and records the QoS 1 ones
//! in the [`AckTracker`] under the same lock so packet ids can be tied back to event `seq`s.
//! The polling task feeds the gate what rumqttc reports (sent, acknowledged, connected,
//! down) and never waits on it; publishers wait for room in the queue, never the poller.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::QoS;
use tokio::sync::{Notify, watch};

use super::mqtt::{Client, Message, QueueFull, REQUEST_CAPACITY, Received};
use super::session::{AckTracker, Tag};

/// QoS 1 requests the gate lets wait in rumqttc's queue; the rest of the queue stays free for
/// telemetry, subscriptions and acknowledgements.
const QOS1_QUEUE_SHARE: usize = REQUEST_CAPACITY * 3 / 4;
/// Events among those at most: a reply (and a command's acknowledgement, which needs the same
/// queue) waits behind at most this many events, not behind a whole outbox backlog.
const EVENT_QUEUE_SHARE: usize = QOS1_QUEUE_SHARE / 3;
/// A publisher re-checks the queue at least this often even without a wake-up (rumqttc moves
/// queued requests aside on a disconnect without reporting each one).
const RECHECK: Duration = Duration::from_millis(250);

/// The cloud link as the rest of the gateway (and the tests) can observe it.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// Not connected yet.
    Connecting,
    /// Connected; `epoch` counts connections since start.
    Connected { epoch: u64, session_present: bool },
    /// The last attempt or the connection failed; the next try is in `retry_in`.
    Down { error: String, retry_in: Duration },
    /// Shut down.
    Stopped,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected { .. })
    }
}

/// The link has shut down; nothing more goes out.
#[derive(Debug, thiserror::Error)]
#[error("the cloud link has stopped")]
pub struct Stopped;

pub struct Gate {
    client: Client,
    /// Held only to hand a request to rumqttc and update the tracker; never across `.await`.
    tracker: Mutex<AckTracker>,
    room: Notify,
    acked: watch::Sender<u64>,
    link: watch::Sender<LinkState>,
}

impl Gate {
    pub fn new(client: Client, acked: u64) -> Gate {
        Gate {
            client,
            tracker: Mutex::new(AckTracker::new(acked)),
            room: Notify::new(),
            acked: watch::Sender::new(acked),
            link: watch::Sender::new(LinkState::Connecting),
        }
    }

    fn tracker(&self) -> MutexGuard<'_, AckTracker> {
        // A panic while holding this lock leaves consistent data (each update is one step).
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn link(&self) -> watch::Receiver<LinkState> {
        self.link.subscribe()
    }

    pub fn is_connected(&self) -> bool {
        self.link.borrow().is_connected()
    }

    /// The highest event `seq` the broker acknowledged, as it changes.
    pub fn acked(&self) -> watch::Receiver<u64> {
        self.acked.subscribe()
    }

    pub fn events_in_flight(&self) -> usize {
        self.tracker().events_in_flight()
    }

    /// Publishes, waiting for room in the request queue (never call from the polling task).
    /// Returns `Err(Stopped)` once the link has shut down.
    pub async fn publish(&self, message: &Message, tag: Tag) -> Result<(), Stopped> {
        self.with_room(|| self.try_hand_over(message, tag)).await
    }

    /// Retries `attempt` whenever the queue may have room, until it succeeds or the link stops.
    async fn with_room(&self, attempt: impl Fn() -> Result<(), QueueFull>) -> Result<(), Stopped> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if attempt().is_ok() {
                return Ok(());
            }
            if *self.link.borrow() == LinkState::Stopped {
                return Err(Stopped);
            }
            let _ = tokio::time::timeout(RECHECK, room).await;
        }
    }

    fn try_hand_over(&self, message: &Message, tag: Tag) -> Result<(), QueueFull> {
        let mut tracker = self.tracker();
        if message.qos == QoS::AtMostOnce {
            return self.client.try_publish(message);
        }
        if !tracker.has_room(tag, QOS1_QUEUE_SHARE, EVENT_QUEUE_SHARE) {
            return Err(QueueFull);
        }
        self.client.try_publish(message)?;
        tracker.submitted(tag);
        Ok(())
    }

    /// Publishes now or not at all (telemetry: a newer sample follows; never queued).
    pub fn publish_or_drop(&self, message: &Message) -> bool {
        self.is_connected() && self.try_hand_over(message, Tag::Other).is_ok()
    }

    /// Acknowledges a command to the broker, waiting for room in the queue.
    pub async fn ack(&self, received: &Received) -> Result<(), Stopped> {
        self.with_room(|| self.client.try_ack(received)).await
    }

    /// The client, for the polling task's non-blocking requests (subscribe, disconnect).
    pub fn client(&self) -> &Client {
        &self.client
    }

    // What the polling task reports.

    pub fn sent(&self, pkid: u16) {
        self.tracker().sent(pkid);
        self.room.notify_waiters();
    }

    pub fn broker_acked(&self, pkid: u16) {
        let acked = self.tracker().acked(pkid);
        if let Some(seq) = acked {
            self.acked.send_replace(seq);
        }
        self.room.notify_waiters();
    }

    pub fn connected(&self, epoch: u64, session_present: bool) {
        if !session_present {
            self.tracker().session_lost();
        }
        self.link.send_replace(LinkState::Connected {
            epoch,
            session_present,
        });
        self.room.notify_waiters();
    }

    pub fn down(&self, error: String, retry_in: Duration) {
        self.link.send_replace(LinkState::Down { error, retry_in });
    }

    pub fn stopped(&self) {
        self.link.send_replace(LinkState::Stopped);
        self.room.notify_waiters();
    }
}
