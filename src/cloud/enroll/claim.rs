//! The provisioning exchange over MQTT with the claim certificate (docs/asyncapi.yaml,
//! "provision"): subscribe to our own `…/cert` topic, publish the CSR on `…/csr` (QoS 1),
//! wait for the answer with our request id. Also `confirm`: one connect with a certificate
//! and nothing else, to prove a new identity before it is relied on.
//!
//! MQTT 3.1.1, clean session: the exchange is one short request and answer, and every broker
//! speaks 3.1.1. A 3.1.1 broker acknowledges a denied SUBSCRIBE as granted, so a claim
//! without the documented ACL shows as a timeout, which the error text says.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use rustls::ClientConfig;
use serde::Deserialize;

use super::EnrollError;

/// Where the broker is and who we are on it for one exchange.
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: Arc<ClientConfig>,
    pub client_id: String,
}

/// The cloud's answer on `…/cert`.
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub id: String,
    pub ok: bool,
    #[serde(default)]
    pub gateway_id: Option<String>,
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub error: Option<AnswerError>,
}

#[derive(Debug, Deserialize)]
pub struct AnswerError {
    pub code: String,
    pub message: String,
}

/// The provisioning topics of one request.
pub struct Topics {
    pub csr: String,
    pub cert: String,
}

impl Topics {
    pub fn new(claim_cn: &str, request_id: &str) -> Topics {
        let base = format!("fluxprint/provision/{claim_cn}/{request_id}");
        Topics {
            csr: format!("{base}/csr"),
            cert: format!("{base}/cert"),
        }
    }
}

fn options(broker: &Broker) -> MqttOptions {
    let mut options = MqttOptions::new(&broker.client_id, &broker.host, broker.port);
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            broker.tls.clone(),
        )))
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        // A certificate chain in the answer is a few KiB; rumqttc's default limit is 10 KiB.
        .set_max_packet_size(256 * 1024, 256 * 1024);
    options
}

/// Publishes `csr_payload` and waits for the answer to `request_id` (at most `patience`).
pub async fn ask(
    broker: &Broker,
    topics: &Topics,
    request_id: &str,
    csr_payload: Vec<u8>,
    patience: Duration,
) -> Result<Answer, EnrollError> {
    // Requests are few (subscribe, publish, acks); 10 is plenty and never fills.
    let (client, mut events) = AsyncClient::new(options(broker), 10);
    events.network_options = crate::cloud::mqtt::network_options();
    let exchange = async {
        loop {
            match events.poll().await.map_err(refused)? {
                Event::Incoming(Packet::ConnAck(_)) => {
                    client
                        .subscribe(&topics.cert, QoS::AtLeastOnce)
                        .await
                        .map_err(|_| EnrollError::Stopped)?;
                }
                Event::Incoming(Packet::SubAck(_)) => {
                    client
                        .publish(&topics.csr, QoS::AtLeastOnce, false, csr_payload.clone())
                        .await
                        .map_err(|_| EnrollError::Stopped)?;
                }
                Event::Incoming(Packet::Publish(p)) if p.topic == topics.cert => {
                    match serde_json::from_slice::<Answer>(&p.payload) {
                        Ok(answer) if answer.id == request_id => return Ok(answer),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "unreadable provisioning answer"),
                    }
                }
                _ => {}
            }
        }
    };
    let result = tokio::time::timeout(patience, exchange).await;
    let _ = client.try_disconnect();
    result.map_err(|_| EnrollError::Timeout { waited: patience })?
}

/// Connects with `broker`'s identity and waits for the CONNACK (at most `patience`).
pub async fn confirm(broker: &Broker, patience: Duration) -> Result<(), EnrollError> {
    let (client, mut events) = AsyncClient::new(options(broker), 10);
    events.network_options = crate::cloud::mqtt::network_options();
    let connected = async {
        loop {
            if let Event::Incoming(Packet::ConnAck(_)) = events.poll().await.map_err(refused)? {
                return Ok(());
            }
        }
    };
    let result = tokio::time::timeout(patience, connected).await;
    let _ = client.try_disconnect();
    // Let the DISCONNECT out so the broker does not log a lost client.
    let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    result.map_err(|_| EnrollError::Timeout { waited: patience })?
}

/// A broker that refuses us (CONNACK refusal, a TLS alert about our certificate) is told
/// apart from one we cannot reach. rumqttc wraps a TLS alert at several depths (a failed
/// handshake, or an I/O error while reading the CONNACK), so the whole chain is searched.
fn refused(error: ConnectionError) -> EnrollError {
    let refusal = matches!(
        error,
        ConnectionError::ConnectionRefused(_) | ConnectionError::Tls(_)
    ) || is_tls_alert(&error);
    if refusal {
        EnrollError::Refused(error.to_string())
    } else {
        EnrollError::Unreachable(error.to_string())
    }
}

fn is_tls_alert(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        let rustls_inside = e.downcast_ref::<rustls::Error>().is_some()
            || e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        if rustls_inside {
            return true;
        }
        current = e.source();
    }
    // Some wrappers keep only the text of the I/O error.
    error.to_string().contains("received fatal alert")
}
