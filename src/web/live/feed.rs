//! The one feed every live client shares: it encodes each committed event and each printer
//! status change once (`Frame`) and hands every client a clone, so 200 clients cost one
//! `serde_json` pass per change, not 200.
//!
//! Events come from the store's broadcast in `seq` order with no gaps. If the feed lagged
//! (the broadcast keeps the last 1024) it re-reads what it missed from the outbox by `seq`;
//! if the outbox no longer holds them (acknowledged and pruned), every client gets a fresh
//! snapshot instead. Nothing is skipped silently. Printer status goes out at most once a
//! second per printer; changes in between are merged (the latest wins).
//!
//! The feed never waits on a client: it only `try_send`s into each client's bounded queue,
//! and a client whose queue is full is told it is too slow (`Client::slow`) and dropped.
//! The feed starts with the first client (`FeedSlot::join`) and stops when the last one
//! leaves, or when the gateway stops (the store or a printer actor is gone).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream, SelectAll};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frame::{Frame, Snapshot};
use crate::events::Event;
use crate::gateway::Gateway;
use crate::printer::PrinterStatus;
use crate::web::api::certificate::CloudCertificate;
use crate::wire::PrinterJson;

/// Printer status goes to clients at most this often per printer.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// Most events read from the outbox in one go while catching up.
const CATCH_UP_BATCH: u32 = 128;
/// Joins and departures waiting for the feed. It handles each at once, so a full channel
/// only means a burst of connections: the next client waits for room.
const REQUESTS: usize = 64;
/// A client that finds the feed just stopping (its last client left) starts a new one; a
/// feed that stops again at once means the gateway is stopping.
const JOIN_ATTEMPTS: usize = 3;

/// One client as the feed sees it.
#[derive(Clone)]
pub(super) struct Client {
    /// Frames waiting for the client's socket (bounded: full means the client is slow).
    pub(super) queue: mpsc::Sender<Frame>,
    /// Cancelled by the feed when the queue was full and the client was dropped.
    pub(super) slow: CancellationToken,
}

pub(super) enum Request {
    /// Add the client; reply with the printer statuses last sent (its snapshot's printers).
    Join {
        client: Client,
        reply: oneshot::Sender<Vec<PrinterJson>>,
    },
    /// A client has gone (its queue's receiver is dropped).
    Left,
}

/// The feed could not be joined: the gateway is stopping.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the live feed is stopping with the gateway")]
pub(super) struct FeedStopped;

/// Where clients find the running feed.
#[derive(Debug, Default)]
pub(in crate::web) struct FeedSlot(Mutex<Option<mpsc::Sender<Request>>>);

impl FeedSlot {
    /// Adds `client` to the feed (starting one if none runs): from now on it gets every frame.
    /// Returns the printer statuses last sent, for the client's snapshot.
    pub(super) async fn join(
        &self,
        gateway: &Gateway,
        gateway_id: &str,
        cloud: Option<&CloudCertificate>,
        client: Client,
    ) -> Result<Vec<PrinterJson>, FeedStopped> {
        for _ in 0..JOIN_ATTEMPTS {
            let feed = self.sender(gateway, gateway_id, cloud);
            let (reply, joined) = oneshot::channel();
            let client = client.clone();
            if feed.send(Request::Join { client, reply }).await.is_err() {
                continue;
            }
            if let Ok(printers) = joined.await {
                return Ok(printers);
            }
        }
        Err(FeedStopped)
    }

    /// Tells the feed a client has gone, so that it can stop when it was the last. When the
    /// channel is full the feed notices at its next frame instead.
    pub(super) fn left(&self) {
        if let Some(feed) = self.lock().as_ref() {
            let _ = feed.try_send(Request::Left);
        }
    }

    fn sender(
        &self,
        gateway: &Gateway,
        gateway_id: &str,
        cloud: Option<&CloudCertificate>,
    ) -> mpsc::Sender<Request> {
        let mut slot = self.lock();
        match slot.as_ref().filter(|feed| !feed.is_closed()) {
            Some(feed) => feed.clone(),
            None => {
                let (feed, requests) = mpsc::channel(REQUESTS);
                let (state, statuses) =
                    Feed::new(gateway.clone(), gateway_id.to_owned(), cloud.cloned());
                tokio::spawn(state.run(requests, statuses));
                *slot = Some(feed.clone());
                feed
            }
        }
    }

    /// A std `Mutex`: held only to read or replace the sender, never across an `.await`.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Request>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why the feed stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The last client left.
    NoClients,
    /// The store or a printer actor is gone.
    GatewayStopping,
}

/// One printer's last sent status and the newest one held back.
struct Printer {
    sent: PrinterJson,
    sent_at: Option<Instant>,
    held: Option<PrinterStatus>,
}

/// A status change of printer `index`; `None` when its actor has stopped.
type StatusChange = (usize, Option<PrinterStatus>);
type StatusChanges = SelectAll<BoxStream<'static, StatusChange>>;

struct Feed {
    gateway: Gateway,
    gateway_id: String,
    /// The cloud link certificate, shown in snapshots.
    cloud: Option<CloudCertificate>,
    clients: Vec<Client>,
    /// The last event sent (or covered by a snapshot sent).
    last_seq: u64,
    printers: Vec<Printer>,
}

impl Feed {
    /// The feed and every printer's status changes from now on, as one stream.
    fn new(
        gateway: Gateway,
        gateway_id: String,
        cloud: Option<CloudCertificate>,
    ) -> (Feed, StatusChanges) {
        let mut printers = Vec::with_capacity(gateway.printers().len());
        let streams = gateway
            .printers()
            .iter()
            .enumerate()
            .map(|(index, handle)| {
                let mut watch = handle.watch();
                printers.push(Printer {
                    sent: PrinterJson::from(&*watch.borrow_and_update()),
                    sent_at: None,
                    held: None,
                });
                changes(index, watch)
            });
        let statuses = stream::select_all(streams);
        let feed = Feed {
            gateway,
            gateway_id,
            cloud,
            clients: Vec::new(),
            last_seq: 0,
            printers,
        };
        (feed, statuses)
    }

    async fn run(mut self, mut requests: mpsc::Receiver<Request>, statuses: StatusChanges) {
        // Subscribe before reading the last `seq`: every later event is in the receiver.
        let events = self.gateway.subscribe();
        let stop = match self.gateway.last_seq().await {
            Ok(seq) => {
                self.last_seq = seq;
                self.serve(&mut requests, events, statuses).await
            }
            Err(_) => Stop::GatewayStopping,
        };
        // Clients whose join is still queued see it refused and start a new feed.
        requests.close();
        tracing::debug!(?stop, "live feed stopped");
    }

    async fn serve(
        &mut self,
        requests: &mut mpsc::Receiver<Request>,
        mut events: tokio::sync::broadcast::Receiver<Event>,
        mut statuses: StatusChanges,
    ) -> Stop {
        loop {
            let flush_at = self.next_flush();
            let step = tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.on_request(request),
                    // The web state (and its slot) is gone.
                    None => Err(Stop::NoClients),
                },
                received = events.recv() => self.on_event(received).await,
                Some((index, status)) = statuses.next() => match status {
                    Some(status) => self.on_status(index, status),
                    None => Err(Stop::GatewayStopping),
                },
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)),
                    if flush_at.is_some() => self.flush_held(),
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    fn on_request(&mut self, request: Request) -> Result<(), Stop> {
        match request {
            Request::Join { client, reply } => {
                let printers = self.printers.iter().map(|p| p.sent.clone()).collect();
                // A client that gave up waiting is not added.
                if reply.send(printers).is_ok() {
                    self.clients.push(client);
                }
                Ok(())
            }
            Request::Left => {
                self.clients.retain(|c| !c.queue.is_closed());
                self.any_clients()
            }
        }
    }

    fn any_clients(&self) -> Result<(), Stop> {
        match self.clients.is_empty() {
            true => Err(Stop::NoClients),
            false => Ok(()),
        }
    }

    /// Hands `frame` to every client; drops the ones that are gone or full.
    fn fan_out(&mut self, frame: Frame) -> Result<(), Stop> {
        self.clients
            .retain(|client| match client.queue.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    client.slow.cancel();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        self.any_clients()
    }

    async fn on_event(&mut self, received: Result<Event, RecvError>) -> Result<(), Stop> {
        match received {
            Ok(event) => {
                if event.seq > self.last_seq + 1 {
                    self.catch_up().await?;
                }
                if event.seq == self.last_seq + 1 {
                    self.send_event(&event)?;
                }
                // Older events were sent already (or are in the clients' snapshots).
                Ok(())
            }
            Err(RecvError::Lagged(_)) => self.catch_up().await,
            Err(RecvError::Closed) => Err(Stop::GatewayStopping),
        }
    }

    /// Sends, from the outbox, every event after `last_seq`.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let after = self.last_seq;
            let batch = self
                .gateway
                .events_after(after, CATCH_UP_BATCH)
                .await
                .map_err(|_| Stop::GatewayStopping)?;
            match batch.first() {
                None => return Ok(()),
                // The missed events have left the outbox: start every client afresh.
                Some(first) if first.seq != after + 1 => return self.resync().await,
                Some(_) => {}
            }
            let more = batch.len() == CATCH_UP_BATCH as usize;
            for event in &batch {
                self.send_event(event)?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    async fn resync(&mut self) -> Result<(), Stop> {
        let printers = self.printers.iter().map(|p| p.sent.clone()).collect();
        let snapshot = Snapshot::read(
            &self.gateway,
            &self.gateway_id,
            self.cloud.as_ref(),
            printers,
        )
        .await
        .map_err(|_| Stop::GatewayStopping)?;
        self.last_seq = snapshot.seq;
        self.fan_out(snapshot.frame)
    }

    fn send_event(&mut self, event: &Event) -> Result<(), Stop> {
        self.last_seq = event.seq;
        self.fan_out(Frame::event(event))
    }

    fn on_status(&mut self, index: usize, status: PrinterStatus) -> Result<(), Stop> {
        let printer = &mut self.printers[index];
        let due = printer
            .sent_at
            .is_none_or(|at| at.elapsed() >= STATUS_INTERVAL);
        if !due {
            printer.held = Some(status);
            return Ok(());
        }
        printer.sent_at = Some(Instant::now());
        printer.held = None;
        printer.sent = PrinterJson::from(&status);
        let frame = Frame::printer(&printer.sent);
        self.fan_out(frame)
    }

    /// When the earliest held-back status may go out.
    fn next_flush(&self) -> Option<Instant> {
        self.printers
            .iter()
            .filter(|p| p.held.is_some())
            .filter_map(|p| p.sent_at.map(|at| at + STATUS_INTERVAL))
            .min()
    }

    fn flush_held(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        for index in 0..self.printers.len() {
            let printer = &mut self.printers[index];
            if printer
                .sent_at
                .is_some_and(|at| now >= at + STATUS_INTERVAL)
                && let Some(status) = printer.held.take()
            {
                self.on_status(index, status)?;
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests;
