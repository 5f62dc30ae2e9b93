//! What one live client is sent: a snapshot, then every committed event in `seq` order with
//! no gaps, and each printer's status at most once a second.
//!
//! Events come from the store's broadcast. A receiver that lagged (the broadcast keeps the
//! last 1024) re-reads what it missed from the outbox by `seq`; if the outbox no longer
//! holds them (acknowledged and pruned), the client gets a fresh snapshot instead. Nothing
//! is skipped silently. The feed only ever `try_send`s into the client's bounded queue, so
//! it never slows the gateway; a full queue ends it as `Slow`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream, SelectAll};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::Event;
use crate::jobs::JobFilter;
use crate::printer::PrinterStatus;
use crate::web::WebState;
use crate::wire::{EventJson, JobJson, PrinterJson};

/// Printer status goes to a client at most this often per printer; changes in between are
/// merged (the latest wins) and sent when the second is up.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// Jobs the snapshot lists under `recent`.
const RECENT_JOBS: u32 = 20;
/// Most events read from the outbox in one go while catching up.
const CATCH_UP_BATCH: usize = 128;

/// Why a feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FeedEnd {
    /// The client closed or its connection failed.
    ClientGone,
    /// The client's queue was full: it does not keep up.
    Slow,
    /// The gateway is stopping (printer actors or the store are gone).
    Stopping,
}

/// Server → client messages (the contract's shapes).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Outgoing {
    Snapshot {
        gateway: GatewayJson,
        printers: Vec<PrinterJson>,
        queue: Vec<JobJson>,
        recent: Vec<JobJson>,
        seq: u64,
    },
    Event {
        event: EventJson,
    },
    Printer {
        printer: PrinterJson,
    },
}

#[derive(Serialize)]
struct GatewayJson {
    id: String,
    version: &'static str,
}

/// One printer's throttle: when its status last went out, and the newest one held back.
#[derive(Default)]
struct Throttle {
    sent_at: Option<Instant>,
    held: Option<PrinterStatus>,
}

/// A status change of printer `index`; `None` when its actor has stopped.
type StatusChange = (usize, Option<PrinterStatus>);

pub(super) struct Feed {
    state: Arc<WebState>,
    queue: mpsc::Sender<Message>,
    last_seq: u64,
    throttles: Vec<Throttle>,
}

impl Feed {
    pub(super) fn new(state: Arc<WebState>, queue: mpsc::Sender<Message>) -> Feed {
        let throttles = state
            .gateway
            .printers()
            .iter()
            .map(|_| Throttle::default())
            .collect();
        Feed {
            state,
            queue,
            last_seq: 0,
            throttles,
        }
    }

    /// Feeds the client until it goes, falls behind, or the gateway stops.
    pub(super) async fn run(mut self, gone: &CancellationToken) -> FeedEnd {
        // Subscribe before the snapshot: every event after the snapshot's `seq` is then
        // either in this receiver or in the outbox.
        let mut events = self.state.gateway.store().subscribe();
        let mut statuses = self.status_changes();
        if let Err(end) = self.send_snapshot().await {
            return end;
        }
        loop {
            let flush_at = self.next_flush();
            let step = tokio::select! {
                _ = gone.cancelled() => Err(FeedEnd::ClientGone),
                received = events.recv() => self.on_event(received).await,
                Some((index, status)) = statuses.next() => match status {
                    Some(status) => self.on_status(index, status),
                    None => Err(FeedEnd::Stopping),
                },
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)),
                    if flush_at.is_some() => self.flush_held(),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Every printer's status changes from now on, as one stream.
    fn status_changes(&self) -> SelectAll<BoxStream<'static, StatusChange>> {
        let printers = self.state.gateway.printers().iter().enumerate();
        stream::select_all(printers.map(|(index, printer)| {
            let mut watch = printer.watch();
            // What is there now goes out in the snapshot.
            watch.borrow_and_update();
            changes(index, watch)
        }))
    }

    async fn send_snapshot(&mut self) -> Result<(), FeedEnd> {
        let recent = JobFilter {
            limit: RECENT_JOBS,
            ..JobFilter::default()
        };
        let read = self
            .state
            .gateway
            .store()
            .call(move |db| Ok((db.queued()?, db.list(&recent)?, db.last_seq()?)))
            .await;
        let (queue, recent, seq) = read.map_err(|_| FeedEnd::Stopping)?;
        self.last_seq = seq;
        self.push(&Outgoing::Snapshot {
            gateway: GatewayJson {
                id: self.state.metrics.gateway_id().to_owned(),
                version: env!("CARGO_PKG_VERSION"),
            },
            printers: self
                .state
                .gateway
                .printer_statuses()
                .iter()
                .map(PrinterJson::from)
                .collect(),
            queue: queue.iter().map(JobJson::from).collect(),
            recent: recent.iter().map(JobJson::from).collect(),
            seq,
        })
    }

    async fn on_event(&mut self, received: Result<Event, RecvError>) -> Result<(), FeedEnd> {
        match received {
            Ok(event) => {
                if event.seq > self.last_seq + 1 {
                    self.catch_up().await?;
                }
                if event.seq == self.last_seq + 1 {
                    self.push_event(&event)?;
                }
                // Older events were in the snapshot or already sent.
                Ok(())
            }
            Err(RecvError::Lagged(_)) => self.catch_up().await,
            Err(RecvError::Closed) => Err(FeedEnd::Stopping),
        }
    }

    /// Sends, from the outbox, every event after `last_seq`, in batches no bigger than the
    /// room left in the queue (no room: the client is not keeping up).
    async fn catch_up(&mut self) -> Result<(), FeedEnd> {
        loop {
            let room = self.queue.capacity().min(CATCH_UP_BATCH);
            if room == 0 {
                return Err(FeedEnd::Slow);
            }
            let after = self.last_seq;
            let batch = self
                .state
                .gateway
                .store()
                .call(move |db| db.events_after(after, room as u32))
                .await
                .map_err(|_| FeedEnd::Stopping)?;
            match batch.first() {
                None => return Ok(()),
                // The missed events have left the outbox: start the client afresh.
                Some(first) if first.seq != after + 1 => return self.send_snapshot().await,
                Some(_) => {}
            }
            let more = batch.len() == room;
            for event in &batch {
                self.push_event(event)?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    fn push_event(&mut self, event: &Event) -> Result<(), FeedEnd> {
        self.push(&Outgoing::Event {
            event: EventJson::from(event),
        })?;
        self.last_seq = event.seq;
        Ok(())
    }

    fn on_status(&mut self, index: usize, status: PrinterStatus) -> Result<(), FeedEnd> {
        let throttle = &mut self.throttles[index];
        let due = throttle
            .sent_at
            .is_none_or(|at| at.elapsed() >= STATUS_INTERVAL);
        if !due {
            throttle.held = Some(status);
            return Ok(());
        }
        throttle.sent_at = Some(Instant::now());
        throttle.held = None;
        self.push(&Outgoing::Printer {
            printer: PrinterJson::from(&status),
        })
    }

    /// When the earliest held-back status may go out.
    fn next_flush(&self) -> Option<Instant> {
        self.throttles
            .iter()
            .filter(|t| t.held.is_some())
            .filter_map(|t| t.sent_at.map(|at| at + STATUS_INTERVAL))
            .min()
    }

    fn flush_held(&mut self) -> Result<(), FeedEnd> {
        let now = Instant::now();
        for index in 0..self.throttles.len() {
            let throttle = &mut self.throttles[index];
            if throttle
                .sent_at
                .is_some_and(|at| now >= at + STATUS_INTERVAL)
                && let Some(status) = throttle.held.take()
            {
                self.on_status(index, status)?;
            }
        }
        Ok(())
    }

    /// Queues a message for the socket; never waits.
    fn push(&self, message: &Outgoing) -> Result<(), FeedEnd> {
        let text = serde_json::to_string(message).expect("wire types always serialize");
        self.queue
            .try_send(Message::Text(text.into()))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => FeedEnd::Slow,
                mpsc::error::TrySendError::Closed(_) => FeedEnd::ClientGone,
            })
    }
}

/// A printer's status changes; yields `None` once when its actor stops, then ends.
fn changes(
    index: usize,
    watch: watch::Receiver<PrinterStatus>,
) -> BoxStream<'static, StatusChange> {
    stream::unfold(Some(watch), move |watch| async move {
        let mut watch = watch?;
        match watch.changed().await {
            Ok(()) => {
                let status = watch.borrow_and_update().clone();
                Some(((index, Some(status)), Some(watch)))
            }
            Err(_) => Some(((index, None), None)),
        }
    })
    .boxed()
}
