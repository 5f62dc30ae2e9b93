//! One face for rumqttc's MQTT 3.1.1 and MQTT 5 clients: options built the same way for
//! both (mutual TLS, persistent session, last will, raised packet limits, manual acks), and
//! what the event loop yields reduced to what the link acts on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as m5;
use rumqttc::{NetworkOptions, QoS, TlsConfiguration, Transport};
use rustls::ClientConfig;

use crate::config::{MAX_PACKET_BYTES, MqttVersion};

/// Requests rumqttc holds between the link's tasks and the socket. Publishers never wait
/// on it from the polling task; when it is full, replies wait and telemetry is dropped.
pub const REQUEST_CAPACITY: usize = 64;
/// How long the broker keeps our session (and queues commands for us) while we are away.
const SESSION_EXPIRY_S: u32 = 7 * 24 * 3600;
/// Unacknowledged commands the broker may send us at once (MQTT 5). Commands are answered
/// several at a time (`dispatch`) and their writes share commits, so a burst goes as fast as
/// this window lets it in; it matches the executor's queue (`COMMAND_QUEUE`).
const RECEIVE_MAXIMUM: u16 = 256;
/// Our QoS 1 publishes the broker may hold unacknowledged (MQTT 5; the broker's receive
/// maximum lowers it further): the publisher's event window, one reply per command being
/// answered, and what may wait in the request queue. rumqttc keeps a slot per packet id for
/// this many publishes, allocated when the event loop is built; left unset it sizes that for
/// 65,535 (14 MiB, issue #14) although no more than this can ever be in flight here.
const OUTGOING_INFLIGHT: u16 =
    (super::publisher::WINDOW + super::dispatch::PARALLEL_COMMANDS + REQUEST_CAPACITY) as u16;
/// TCP connect plus TLS and MQTT handshake, and every socket flush.
const NETWORK_TIMEOUT_S: u64 = 10;

/// One broker (a node of a cluster) to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Where and who.
pub struct Endpoint {
    /// `cloud.url` then `cloud.fallback_urls`, in that order; never empty.
    pub brokers: Vec<Broker>,
    pub client_id: String,
    pub version: MqttVersion,
    pub keepalive: Duration,
    pub tls: Arc<ClientConfig>,
    /// Retained on `state` by the broker when we vanish.
    pub will_topic: String,
    pub will_payload: Vec<u8>,
}

/// Something to publish.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5: the correlation data to send with it.
    pub correlation: Option<Bytes>,
}

/// A command publish as received, with what is needed to acknowledge it later.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Bytes,
    /// MQTT 5 request/response: where the requester also wants the reply.
    pub response_topic: Option<String>,
    pub correlation: Option<Bytes>,
    ack: AckToken,
}

#[derive(Debug, Clone)]
enum AckToken {
    V4(rumqttc::Publish),
    V5(m5::Publish),
}

/// A command publish on its way from the event loop to the executor: shared, never inline.
/// tokio's channels hold their slots in blocks of 32 and keep a passed block for reuse, and
/// the poller's overflow keeps its largest capacity; an inline [`Received`] (over 300 bytes)
/// would keep 10 KiB per block, and 330 KiB after one full overflow (issue #14).
pub type Incoming = Arc<Received>;
const _: () = assert!(std::mem::size_of::<Incoming>() <= 16);

/// What one turn of the event loop amounts to.
#[derive(Debug)]
pub enum Happening {
    Connected {
        session_present: bool,
    },
    Command(Incoming),
    Sent {
        pkid: u16,
    },
    Acked {
        pkid: u16,
    },
    /// The broker acknowledged our subscription.
    Subscribed,
    /// A subscription was refused (MQTT 5 reports it; MQTT 3.1.1 brokers may not).
    SubscribeRefused,
    /// Our DISCONNECT went out.
    Left,
    Nothing,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    V4(#[from] rumqttc::ConnectionError),
    #[error(transparent)]
    V5(#[from] rumqttc::v5::ConnectionError),
}

/// rumqttc does not say whether its request queue was full or its event loop gone; the
/// event loop only goes at shutdown, so callers treat this as "full, try again".
#[derive(Debug, thiserror::Error)]
#[error("the MQTT request queue is full")]
pub struct QueueFull;

#[derive(Clone)]
pub enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// rumqttc's event loop and which of the endpoint's brokers it connects to next.
pub struct EventLoop {
    inner: Loop,
    endpoint: Endpoint,
    current: usize,
}

enum Loop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

pub(crate) fn network_options() -> NetworkOptions {
    // `new()`, not `default()`: the derived default has a connect timeout of 0 seconds.
    let mut options = NetworkOptions::new();
    options.set_connection_timeout(NETWORK_TIMEOUT_S);
    // Replies and acknowledgements are small writes that must go out at once: with Nagle's
    // algorithm one waits for the broker's delayed ACK of the previous one (up to 40 ms).
    options.set_tcp_nodelay(true);
    options
}

/// The one client and event loop of this gateway (two clients with one id would kick each
/// other off the broker forever). It connects to the first broker first.
pub fn connect(endpoint: Endpoint) -> (Client, EventLoop) {
    assert!(!endpoint.brokers.is_empty(), "cloud.url is always set");
    let broker = &endpoint.brokers[0];
    let (client, inner) = match endpoint.version {
        MqttVersion::V4 => {
            let (client, mut ev) =
                rumqttc::AsyncClient::new(v4_options(&endpoint, broker), REQUEST_CAPACITY);
            ev.set_network_options(network_options());
            (Client::V4(client), Loop::V4(Box::new(ev)))
        }
        MqttVersion::V5 => {
            let (client, ev) =
                rumqttc::v5::AsyncClient::new(v5_options(&endpoint, broker), REQUEST_CAPACITY);
            (Client::V5(client), Loop::V5(Box::new(ev)))
        }
    };
    let events = EventLoop {
        inner,
        endpoint,
        current: 0,
    };
    (client, events)
}

fn v4_options(endpoint: &Endpoint, broker: &Broker) -> rumqttc::MqttOptions {
    let transport = Transport::tls_with_config(TlsConfiguration::Rustls(endpoint.tls.clone()));
    let max = MAX_PACKET_BYTES as usize;
    let mut o = rumqttc::MqttOptions::new(&endpoint.client_id, &broker.host, broker.port);
    o.set_transport(transport)
        .set_keep_alive(endpoint.keepalive)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(max, max)
        .set_last_will(rumqttc::LastWill::new(
            &endpoint.will_topic,
            endpoint.will_payload.clone(),
            QoS::AtLeastOnce,
            true,
        ));
    o
}

fn v5_options(endpoint: &Endpoint, broker: &Broker) -> rumqttc::v5::MqttOptions {
    let transport = Transport::tls_with_config(TlsConfiguration::Rustls(endpoint.tls.clone()));
    let mut o = rumqttc::v5::MqttOptions::new(&endpoint.client_id, &broker.host, broker.port);
    o.set_transport(transport)
        .set_keep_alive(endpoint.keepalive)
        .set_clean_start(false)
        .set_session_expiry_interval(Some(SESSION_EXPIRY_S))
        .set_manual_acks(true)
        .set_max_packet_size(Some(MAX_PACKET_BYTES as u32))
        .set_receive_maximum(Some(RECEIVE_MAXIMUM))
        .set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT)
        .set_last_will(m5::LastWill::new(
            &endpoint.will_topic,
            endpoint.will_payload.clone(),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            true,
            None,
        ));
    o.set_connection_timeout(NETWORK_TIMEOUT_S)
        .set_network_options(network_options());
    o
}

impl Client {
    /// Hands a publish to the event loop without waiting.
    pub fn try_publish(&self, m: &Message) -> Result<(), QueueFull> {
        match self {
            Client::V4(c) => c
                .try_publish(&m.topic, m.qos, m.retain, m.payload.clone())
                .map_err(v4_send),
            Client::V5(c) => {
                let props = m5::PublishProperties {
                    correlation_data: m.correlation.clone(),
                    ..Default::default()
                };
                let qos = match m.qos {
                    QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                    _ => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                };
                c.try_publish_with_properties(&m.topic, qos, m.retain, m.payload.clone(), props)
                    .map_err(v5_send)
            }
        }
    }

    pub fn try_subscribe(&self, filter: &str) -> Result<(), QueueFull> {
        match self {
            Client::V4(c) => c.try_subscribe(filter, QoS::AtLeastOnce).map_err(v4_send),
            Client::V5(c) => c
                .try_subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
                .map_err(v5_send),
        }
    }

    /// Acknowledges a command publish to the broker (it is then ours to answer).
    pub fn try_ack(&self, received: &Received) -> Result<(), QueueFull> {
        match (self, &received.ack) {
            (Client::V4(c), AckToken::V4(p)) => c.try_ack(p).map_err(v4_send),
            (Client::V5(c), AckToken::V5(p)) => c.try_ack(p).map_err(v5_send),
            _ => unreachable!("a publish is acknowledged by the client that received it"),
        }
    }

    pub fn try_disconnect(&self) -> Result<(), QueueFull> {
        match self {
            Client::V4(c) => c.try_disconnect().map_err(v4_send),
            Client::V5(c) => c.try_disconnect().map_err(v5_send),
        }
    }
}

fn v4_send(_: rumqttc::ClientError) -> QueueFull {
    QueueFull
}

fn v5_send(_: rumqttc::v5::ClientError) -> QueueFull {
    QueueFull
}

impl EventLoop {
    /// One turn of the event loop. Never publishes: publishing happens from other tasks.
    pub async fn poll(&mut self) -> Result<Happening, LinkError> {
        match &mut self.inner {
            Loop::V4(ev) => Ok(v4_happening(ev.poll().await?)),
            Loop::V5(ev) => Ok(v5_happening(ev.poll().await?)),
        }
    }

    /// The broker the current (or next) connection goes to.
    pub fn broker(&self) -> &Broker {
        &self.endpoint.brokers[self.current]
    }

    /// Points the next connection attempt at the next broker of the list, wrapping around;
    /// with a single broker nothing changes. rumqttc keeps its session state (unacknowledged
    /// publishes are sent again after a resumed session), so this is a fail-over within one
    /// cluster, not a new client.
    pub fn next_broker(&mut self) {
        let count = self.endpoint.brokers.len();
        if count < 2 {
            return;
        }
        self.current = (self.current + 1) % count;
        let broker = &self.endpoint.brokers[self.current];
        match &mut self.inner {
            Loop::V4(ev) => ev.mqtt_options = v4_options(&self.endpoint, broker),
            Loop::V5(ev) => ev.options = v5_options(&self.endpoint, broker),
        }
    }
}

fn v4_happening(event: rumqttc::Event) -> Happening {
    use rumqttc::{Event, Outgoing, Packet};
    match event {
        Event::Incoming(Packet::ConnAck(ack)) => Happening::Connected {
            session_present: ack.session_present,
        },
        Event::Incoming(Packet::Publish(p)) => Happening::Command(Arc::new(Received {
            topic: p.topic.clone(),
            payload: p.payload.clone(),
            response_topic: None,
            correlation: None,
            ack: AckToken::V4(rumqttc::Publish {
                payload: Bytes::new(),
                ..p
            }),
        })),
        Event::Incoming(Packet::PubAck(ack)) => Happening::Acked { pkid: ack.pkid },
        Event::Incoming(Packet::SubAck(ack))
            if ack
                .return_codes
                .iter()
                .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) =>
        {
            Happening::SubscribeRefused
        }
        Event::Incoming(Packet::SubAck(_)) => Happening::Subscribed,
        Event::Outgoing(Outgoing::Publish(pkid)) => Happening::Sent { pkid },
        Event::Outgoing(Outgoing::Disconnect) => Happening::Left,
        _ => Happening::Nothing,
    }
}

fn v5_happening(event: rumqttc::v5::Event) -> Happening {
    use m5::Packet;
    use rumqttc::Outgoing;
    use rumqttc::v5::Event;
    match event {
        Event::Incoming(Packet::ConnAck(ack)) => Happening::Connected {
            session_present: ack.session_present,
        },
        Event::Incoming(Packet::Publish(p)) => {
            let props = p.properties.clone().unwrap_or_default();
            Happening::Command(Arc::new(Received {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload.clone(),
                response_topic: props.response_topic,
                correlation: props.correlation_data,
                ack: AckToken::V5(m5::Publish {
                    payload: Bytes::new(),
                    properties: None,
                    ..p
                }),
            }))
        }
        Event::Incoming(Packet::PubAck(ack)) => Happening::Acked { pkid: ack.pkid },
        Event::Incoming(Packet::SubAck(ack))
            if ack
                .return_codes
                .iter()
                .any(|c| !matches!(c, m5::SubscribeReasonCode::Success(_))) =>
        {
            Happening::SubscribeRefused
        }
        Event::Incoming(Packet::SubAck(_)) => Happening::Subscribed,
        Event::Outgoing(Outgoing::Publish(pkid)) => Happening::Sent { pkid },
        Event::Outgoing(Outgoing::Disconnect) => Happening::Left,
        _ => Happening::Nothing,
    }
}
