//! The test's provisioning backend: a client of the real broker (the `cloud` certificate)
//! that answers the contract's CSRs (`fluxprint/provision/{claim_cn}/{request_id}/csr`) with
//! certificates signed by the per-run test CA, or refuses them, or keeps quiet, as the test
//! says. It also answers renewal (`gateway:cert-renewal` events) with `cert.install`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{CertificateSigningRequestParams, DnType, Issuer, KeyPair};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::PATIENCE;
use super::mosquitto::{Broker, Pki};

/// What the backend does with the next CSRs.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Signs, valid from now − 1 min for `lifetime`.
    Sign { lifetime: Duration },
    /// Answers `ok: false` with this code.
    Refuse(&'static str),
    /// Reads the CSR and says nothing.
    Silent,
}

/// A CSR the backend received.
#[derive(Debug, Clone)]
pub struct Asked {
    pub topic: String,
    pub request_id: String,
    /// The request as published (checked against docs/schemas/provision-csr.json).
    pub payload: Value,
}

pub struct Backend {
    /// Kept so the connection lives as long as the backend.
    _client: AsyncClient,
    mode: Arc<Mutex<Mode>>,
    pub asked: mpsc::UnboundedReceiver<Asked>,
    /// Every answer waits for a permit while `hold` is on.
    held: Arc<Mutex<bool>>,
    release: Arc<Notify>,
}

impl Backend {
    pub async fn start(pki: &Pki, broker: &Broker, id: &str, mode: Mode) -> Backend {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            pki.client_tls("cloud"),
        )));
        options.set_max_packet_size(Some(1 << 20));
        let (client, mut events) = AsyncClient::new(options, 100);
        let mode = Arc::new(Mutex::new(mode));
        let held = Arc::new(Mutex::new(false));
        let release = Arc::new(Notify::new());
        let (asked_tx, asked) = mpsc::unbounded_channel();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let worker = Worker {
            client: client.clone(),
            issuer: Arc::new(pki.issuer()),
            mode: mode.clone(),
            held: held.clone(),
            release: release.clone(),
            asked: asked_tx,
        };
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready_tx.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let topic = String::from_utf8_lossy(&p.topic).into_owned();
                        let payload: Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                        let worker = worker.clone();
                        tokio::spawn(async move { worker.answer(topic, payload).await });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client
            .subscribe("fluxprint/provision/+/+/csr", QoS::AtLeastOnce)
            .await
            .unwrap();
        tokio::time::timeout(PATIENCE, ready)
            .await
            .expect("the backend never got its SUBACK")
            .unwrap();
        Backend {
            _client: client,
            mode,
            asked,
            held,
            release,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// From now on answers wait until `release`.
    pub fn hold(&self) {
        *self.held.lock().unwrap() = true;
    }

    pub fn release(&self) {
        *self.held.lock().unwrap() = false;
        self.release.notify_waiters();
    }

    pub async fn next_asked(&mut self) -> Asked {
        tokio::time::timeout(PATIENCE, self.asked.recv())
            .await
            .expect("the backend never got a CSR")
            .unwrap()
    }
}

#[derive(Clone)]
struct Worker {
    client: AsyncClient,
    issuer: Arc<Issuer<'static, KeyPair>>,
    mode: Arc<Mutex<Mode>>,
    held: Arc<Mutex<bool>>,
    release: Arc<Notify>,
    asked: mpsc::UnboundedSender<Asked>,
}

impl Worker {
    async fn answer(&self, topic: String, payload: Value) {
        let request_id = payload["id"].as_str().unwrap_or_default().to_owned();
        let csr = payload["csr"].as_str().unwrap_or_default().to_owned();
        let gateway_id = payload["gateway_id"]
            .as_str()
            .unwrap_or("gw-assigned")
            .to_owned();
        let _ = self.asked.send(Asked {
            topic: topic.clone(),
            request_id: request_id.clone(),
            payload: payload.clone(),
        });
        loop {
            let released = self.release.notified();
            if !*self.held.lock().unwrap() {
                break;
            }
            released.await;
        }
        let mode = self.mode.lock().unwrap().clone();
        let answer = match mode {
            Mode::Silent => return,
            Mode::Refuse(code) => json!({"v": 1, "id": request_id, "ok": false,
                "error": {"code": code, "message": "refused by the test backend"}}),
            Mode::Sign { lifetime } => {
                let certificate = sign(&self.issuer, &csr, &gateway_id, lifetime);
                json!({"v": 1, "id": request_id, "ok": true, "gateway_id": gateway_id,
                    "certificate": certificate})
            }
        };
        let reply = topic.trim_end_matches("/csr").to_owned() + "/cert";
        self.client
            .publish(reply, QoS::AtLeastOnce, false, answer.to_string())
            .await
            .unwrap();
    }
}

/// A certificate for the CSR's key, CN `cn`, valid from a minute ago for `lifetime`.
pub fn sign(issuer: &Issuer<'static, KeyPair>, csr: &str, cn: &str, lifetime: Duration) -> String {
    let mut request = CertificateSigningRequestParams::from_pem(csr).expect("a valid CSR");
    let now = time::OffsetDateTime::now_utc();
    request.params.distinguished_name = rcgen::DistinguishedName::new();
    request
        .params
        .distinguished_name
        .push(DnType::CommonName, cn);
    request.params.not_before = now - time::Duration::minutes(1);
    request.params.not_after = now + lifetime;
    request.signed_by(issuer).unwrap().pem()
}
