//! The task that polls the MQTT event loop: it connects (with our own capped, fully jittered
//! backoff, moving on to the next of `cloud.url` + `cloud.fallback_urls` after every failed
//! or lost connection), subscribes again when the broker lost our session, passes commands on, and
//! reports sends, acknowledgements and the link state to the [`Gate`]. It never publishes
//! and waits on nothing but the event loop and its backoff (publishing from the polling
//! task deadlocks rumqttc: rumqtt issues #263 and #1025).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::gate::Gate;
use super::mqtt::{EventLoop, Happening, Incoming, LinkError, Message, Received};
use super::payload::{self, Reply, Topics};
use super::session::Backoff;

const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// A connection that lasted this long was a working one: the backoff starts again from its
/// base. A shorter one counts as a failed attempt, so a broker that accepts the connection and
/// then closes it at once (RabbitMQ does this on a topic outside the ACL) sees the attempts
/// slow down to one per `BACKOFF_CAP` instead of a reconnect storm from the whole fleet.
const STABLE: Duration = Duration::from_secs(30);
/// Commands held by the poller while the executor's queue is full. Brokers do not all honour
/// our receive maximum (mosquitto 2.0 sends a whole backlog at once), so a burst waits here
/// rather than being refused; only beyond this is a command answered `busy`.
const OVERFLOW: usize = 1024;
/// How long a clean shutdown waits for the offline state and DISCONNECT to go out.
const GOODBYE: Duration = Duration::from_secs(2);

pub struct Poller {
    pub events: EventLoop,
    pub gate: Arc<Gate>,
    pub commands: mpsc::Sender<Incoming>,
    pub topics: Topics,
    pub max_command_bytes: usize,
    /// The retained `state` that says we left.
    pub offline: Message,
    pub overflow: VecDeque<Incoming>,
}

impl Poller {
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
        let mut epoch = 0;
        let mut subscribe = false;
        let mut connected_at: Option<tokio::time::Instant> = None;
        // A fresh session is announced (state `online`, events) only once the command
        // subscription is acknowledged: a backend that sees the gateway online may send
        // commands at once, and before the SUBACK the broker would route them nowhere.
        let mut unannounced = false;
        let mut rejoin = false;
        loop {
            let polled = tokio::select! {
                polled = self.events.poll() => polled,
                _ = shutdown.cancelled() => break,
            };
            match polled {
                Ok(Happening::Connected { session_present }) => {
                    connected_at = Some(tokio::time::Instant::now());
                    epoch += 1;
                    subscribe = !session_present;
                    let broker = self.events.broker();
                    tracing::info!(session_present, %broker, "cloud link connected");
                    unannounced = !session_present;
                    if session_present {
                        self.gate.connected(epoch, true);
                    }
                }
                Ok(h @ (Happening::Subscribed | Happening::SubscribeRefused)) if unannounced => {
                    unannounced = false;
                    self.handle(h);
                    self.gate.connected(epoch, false);
                }
                // Only renewal disconnects a running link (to present its new certificate):
                // the next attempt goes to the same broker at once.
                Ok(Happening::Left) => rejoin = true,
                Ok(happening) => self.handle(happening),
                Err(e) if std::mem::take(&mut rejoin) => {
                    connected_at = None;
                    tracing::info!(error = %e, "cloud link reconnecting with its renewed certificate");
                    self.gate.down(e.to_string(), Duration::ZERO);
                }
                Err(e) => {
                    let lasted = connected_at.take().map(|at| at.elapsed());
                    let delay = self.lost(&e, lasted, &mut backoff);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
            self.hand_over_overflow();
            if subscribe {
                // Retried after the next turn when rumqttc's queue is full.
                subscribe = self
                    .gate
                    .client()
                    .try_subscribe(&self.topics.commands())
                    .is_err();
            }
        }
        self.goodbye().await;
    }

    /// After a failed attempt or a lost connection (that lasted `lasted`): points the event
    /// loop at the next broker and returns how long to wait before trying it.
    fn lost(
        &mut self,
        error: &LinkError,
        lasted: Option<Duration>,
        backoff: &mut Backoff,
    ) -> Duration {
        match lasted {
            Some(lasted) if lasted >= STABLE => backoff.reset(),
            Some(lasted) => tracing::warn!(
                ?lasted,
                broker = %self.events.broker(),
                "the broker closed the connection soon after accepting it; check its ACL for \
                 this gateway (RabbitMQ closes the connection on a topic it refuses)"
            ),
            None => {}
        }
        let broker = self.events.broker().clone();
        self.events.next_broker();
        let delay = backoff.next_delay(&mut rand::rng());
        tracing::warn!(error = %error, %broker, next = %self.events.broker(),
            retry_in = ?delay, "cloud link down");
        self.gate.down(error.to_string(), delay);
        delay
    }

    fn handle(&mut self, happening: Happening) {
        match happening {
            Happening::Command(received) => self.pass_on(received),
            Happening::Sent { pkid } => self.gate.sent(pkid),
            Happening::Acked { pkid } => self.gate.broker_acked(pkid),
            Happening::SubscribeRefused => tracing::error!(
                filter = %self.topics.commands(),
                "the broker refused the command subscription; check its ACL for this gateway"
            ),
            Happening::Connected { .. }
            | Happening::Subscribed
            | Happening::Left
            | Happening::Nothing => {}
        }
    }

    /// Hands a command to the executor, in arrival order, keeping it in the overflow while
    /// the executor's queue is full. Too large ones are answered here, so the overflow holds
    /// only commands of acceptable size.
    fn pass_on(&mut self, received: Incoming) {
        if received.payload.len() > self.max_command_bytes {
            let refusal = payload::Refusal::TooLarge {
                size: received.payload.len(),
                max: self.max_command_bytes,
            };
            return self.answer_now(
                &received,
                Reply::error(None, refusal.code(), refusal.to_string()),
            );
        }
        if self.overflow.len() >= OVERFLOW {
            let id = payload::check(&received.payload, self.max_command_bytes)
                .ok()
                .map(|envelope| envelope.id);
            let message = "the gateway has too many commands waiting; send it again later";
            return self.answer_now(
                &received,
                Reply::error(id.as_deref(), "busy", message.into()),
            );
        }
        self.overflow.push_back(received);
        self.hand_over_overflow();
    }

    fn hand_over_overflow(&mut self) {
        while let Some(received) = self.overflow.pop_front() {
            match self.commands.try_send(received) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(received)) => {
                    self.overflow.push_front(received);
                    return;
                }
                // The executor has stopped: shutting down, the broker sends these again.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.overflow.clear();
                    return;
                }
            }
        }
    }

    /// Answers without the executor and without remembering the reply (the command changed
    /// nothing; sent again under the same id, it is executed), then acknowledges it.
    fn answer_now(&self, received: &Received, reply: Reply) {
        let message = Message {
            topic: self.topics.reply(),
            payload: reply.to_json().into_bytes(),
            qos: rumqttc::QoS::AtLeastOnce,
            retain: false,
            correlation: None,
        };
        let client = self.gate.client();
        if client.try_publish(&message).is_err() || client.try_ack(received).is_err() {
            // Unacknowledged, the broker delivers it again on the next connection.
            tracing::warn!("could not answer a command at once: the MQTT request queue is full");
        }
    }

    /// Publishes the offline state, disconnects cleanly and polls until that is done (or a
    /// short deadline passes); without a clean disconnect the broker's last will says the same.
    async fn goodbye(mut self) {
        if self.gate.is_connected() {
            let client = self.gate.client();
            if client.try_publish(&self.offline).is_ok() && client.try_disconnect().is_ok() {
                let _ = tokio::time::timeout(GOODBYE, async {
                    while let Ok(happening) = self.events.poll().await {
                        if matches!(happening, Happening::Left) {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        self.gate.stopped();
        tracing::info!("cloud link stopped");
    }
}
