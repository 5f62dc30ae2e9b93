//! The events outbox as the doors see it — subscribe, read back by `seq`, acknowledge, keep a
//! saved place, apply the retention limits — and the stored replies that make cloud commands
//! idempotent. Every event is committed before anyone sees it (the store's invariant); these
//! only read it back or let it go.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::{CommandError, Gateway};
use crate::events::{Event, EventKind};

/// Which events the outbox holds: from `first` (none when it is empty) to the newest `seq`
/// ever handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxRange {
    pub first: Option<u64>,
    pub last: u64,
}

impl Gateway {
    /// Every event committed from now on, in `seq` order. A receiver that lags re-reads what
    /// it missed with `events_after`.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.store.subscribe()
    }

    /// The newest `seq` handed out so far (0 when none).
    pub async fn last_seq(&self) -> Result<u64, CommandError> {
        Ok(self.store.call(|db| db.last_seq()).await?)
    }

    /// Events with `seq > after`, oldest first, at most `limit` (replay after a lag, an
    /// outage, a restart).
    pub async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, CommandError> {
        Ok(self
            .store
            .call(move |db| db.events_after(after, limit))
            .await?)
    }

    pub async fn outbox_range(&self) -> Result<OutboxRange, CommandError> {
        let read = self.store.call(|db| {
            Ok(OutboxRange {
                first: db.first_seq()?,
                last: db.last_seq()?,
            })
        });
        Ok(read.await?)
    }

    /// The cloud has every event up to `seq`: they leave the outbox. Returns how many did.
    pub async fn ack_events(&self, seq: u64) -> Result<usize, CommandError> {
        Ok(self.store.call(move |db| db.ack_events(seq)).await?)
    }

    /// A listener's place in the outbox saved under `key`, never beyond the newest event (a
    /// replaced database starts again from its own first event); 0 when none was saved.
    pub async fn saved_seq(&self, key: &'static str) -> Result<u64, CommandError> {
        let read = self.store.call(move |db| {
            let saved = (db.meta(key)?)
                .and_then(|text| text.parse::<u64>().ok())
                .unwrap_or(0);
            Ok(saved.min(db.last_seq()?))
        });
        Ok(read.await?)
    }

    /// Saves a listener's place in the outbox under `key`.
    pub async fn save_seq(&self, key: &'static str, seq: u64) -> Result<(), CommandError> {
        let text = seq.to_string();
        Ok(self.store.call(move |db| db.set_meta(key, &text)).await?)
    }

    /// Stores a gateway-level event (not tied to a job or printer) in the outbox; it reaches
    /// every listener, the cloud included, like the others. Returns its `seq`.
    pub async fn record(&self, kind: EventKind) -> Result<u64, CommandError> {
        Ok(self
            .store
            .call(move |db| db.write(|w| w.emit(kind)))
            .await?)
    }

    /// Drops the oldest events beyond `max_events` or older than `max_age` and records
    /// `events:dropped` naming them, in one transaction; returns the range dropped, if any.
    pub async fn prune_outbox(
        &self,
        max_events: u64,
        max_age: Duration,
    ) -> Result<Option<(u64, u64)>, CommandError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .store
            .call(move |db| db.prune_outbox(max_events, max_age, now))
            .await?)
    }

    /// Records an event that comes with no other change (a remote update's step).
    pub async fn record_event(&self, kind: crate::events::EventKind) -> Result<u64, CommandError> {
        Ok(self.store.call(move |db| db.record_event(kind)).await?)
    }

    /// The reply stored for a cloud command id, if that command was answered before.
    pub async fn stored_reply(&self, id: &str) -> Result<Option<String>, CommandError> {
        let id = id.to_owned();
        Ok(self.store.call(move |db| db.command_reply(&id)).await?)
    }

    /// Stores `reply` as the answer to command `id` and returns it — or the reply stored
    /// first, should the id have been answered meanwhile (the first reply stands).
    pub async fn remember_reply(&self, id: &str, reply: String) -> Result<String, CommandError> {
        let id = id.to_owned();
        let stored = self.store.call(move |db| {
            if let Some(first) = db.command_reply(&id)? {
                return Ok(first);
            }
            db.write(|w| w.remember_command(&id, &reply))?;
            Ok(reply)
        });
        Ok(stored.await?)
    }
}
