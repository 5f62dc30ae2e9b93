//! The floor of the burst measurement: the same broker, TLS, client and commands, answered by
//! the least a responder can do. It connects as the gateway (same certificate, client id and
//! ACL, MQTT 5, receive maximum 256, TCP_NODELAY), and for every command publishes a QoS 1
//! reply with the command's id at once, from a task other than the one polling its event loop
//! — no validation, no database, no download, no events. What a burst costs here is what the
//! broker and the two MQTT/TLS clients cost on this machine; the gateway's figure is read
//! against it.

use std::time::Duration;

use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::common::mosquitto::{Broker, GATEWAY, Pki, topic};

/// A connected responder; `stop` disconnects it so the gateway can take the client id.
pub struct Responder {
    client: AsyncClient,
    tasks: [JoinHandle<()>; 2],
}

impl Responder {
    pub async fn start(pki: &Pki, broker: &Broker) -> Responder {
        let mut options = MqttOptions::new(GATEWAY, "127.0.0.1", broker.port);
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            pki.client_tls(GATEWAY),
        )));
        options.set_clean_start(true);
        options.set_receive_maximum(Some(256));
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        options.set_network_options(network);
        let (client, mut events) = AsyncClient::new(options, 1000);
        let (ids, mut to_answer) = mpsc::unbounded_channel::<String>();
        let (subscribed, ready) = oneshot::channel();
        let poll = tokio::spawn(async move {
            let mut subscribed = Some(subscribed);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let command: serde_json::Value =
                            serde_json::from_slice(&p.payload).unwrap_or_default();
                        if let Some(id) = command["id"].as_str() {
                            let _ = ids.send(id.to_owned());
                        }
                    }
                    // Our own DISCONNECT went out: done (see `stop`).
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        let replier = client.clone();
        let reply = tokio::spawn(async move {
            while let Some(id) = to_answer.recv().await {
                let payload = serde_json::json!({"v": 1, "id": id, "ok": true}).to_string();
                let sent = replier.publish(topic("reply"), QoS::AtLeastOnce, false, payload);
                if sent.await.is_err() {
                    return;
                }
            }
        });
        client
            .subscribe(topic("cmd/#"), QoS::AtLeastOnce)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("the floor responder never got its SUBACK")
            .unwrap();
        Responder {
            client,
            tasks: [poll, reply],
        }
    }

    pub async fn stop(self) {
        let [poll, reply] = self.tasks;
        reply.abort();
        let _ = self.client.disconnect().await;
        // The poll task ends once the DISCONNECT is out; the gateway may then take the id.
        let _ = tokio::time::timeout(Duration::from_secs(10), poll).await;
    }
}
