//! A real mosquitto broker for the cloud link tests, with the per-run PKI of `pki`. The broker
//! requires client certificates, takes the CN as the user name and applies the contract's ACL.
//! Also a test "cloud" MQTT client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fluxprint_gateway::app::{self, Running};
use fluxprint_gateway::cloud::LinkState;
use fluxprint_gateway::config::{CloudLink, Config, LinkOptions, MqttVersion};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use super::pki::Pki;
use super::{HandDrivers, PATIENCE};

pub const GATEWAY: &str = "gw-test";

/// The claim certificate's ACL (docs/asyncapi.yaml, "provision"): write its own CSR topics,
/// read its own answers, nothing else. Claim CNs are kept out of the gateway id space
/// (`claim:…`: a `:` is not allowed in `gateway.id`), so the device patterns above never
/// give a claim a device's topics.
pub const CLAIM_ACL: &str = "pattern write fluxprint/provision/%u/+/csr\n\
                             pattern read fluxprint/provision/%u/+/cert\n";

/// The mosquitto binary, or a failure that says how to install it.
pub fn mosquitto_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|path| path.is_file())
        .expect("mosquitto is not installed: `apt-get install -y mosquitto` (scripts/test does it)")
}

pub struct Broker {
    pub port: u16,

    dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// Starts mosquitto on a free 127.0.0.1 port with persistence in `dir`.
    pub fn start(pki: &Pki, dir: &Path) -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = dir.join("broker");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("acl"),
            format!(
                "user cloud\ntopic readwrite #\n\n\
             pattern read fluxprint/%u/cmd/#\npattern write fluxprint/%u/#\n{CLAIM_ACL}"
            ),
        )
        .unwrap();
        let user_root = if is_root() { "user root\n" } else { "" };
        let conf = format!(
            "{user_root}per_listener_settings false\nallow_anonymous false\n\
             persistence true\npersistence_location {dir}/\nautosave_interval 1\n\
             log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             acl_file {dir}/acl\n\
             listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             require_certificate true\nuse_identity_as_username true\nset_tcp_nodelay true\n",
            dir = dir.display(),
            ca = pki.ca.display(),
            cert = pki.server_cert.display(),
            key = pki.server_key.display(),
        );
        // Extra settings for an experiment by hand (e.g. `max_inflight_messages 100`).
        let extra = std::env::var("MOSQUITTO_EXTRA_CONF").unwrap_or_default();
        let conf = format!("{conf}{}\n", extra.replace(';', "\n"));
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut broker = Broker {
            port,
            dir,
            child: None,
        };
        broker.run();
        broker
    }

    /// Starts the process and waits for its "running" log line.
    fn run(&mut self) {
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut announced = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !announced && line.contains("running") {
                    announced = true;
                    let _ = tx.send(());
                }
                if std::env::var_os("MOSQUITTO_LOG").is_some() {
                    eprintln!("mosquitto: {line}");
                }
            }
        });
        rx.recv_timeout(PATIENCE)
            .expect("mosquitto did not start; run it by hand with the config in the test dir");
        self.child = Some(child);
    }

    /// Stops the broker (SIGTERM: it saves its persistence file) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// The broker's process id while it runs (benchmarks read its CPU time).
    #[allow(dead_code, reason = "benches/cloud.rs reads it, no test does")]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The gateway's `[cloud]` link to `broker`.
pub fn link(pki: &Pki, port: u16, version: MqttVersion) -> CloudLink {
    let (cert, key) = pki.cert(GATEWAY);
    CloudLink {
        url: format!("mqtts://127.0.0.1:{port}").parse().unwrap(),
        fallback_urls: Vec::new(),
        ca_file: pki.ca.clone(),
        cert_file: cert,
        key_file: key,
        options: LinkOptions {
            mqtt_version: version,
            ..LinkOptions::default()
        },
    }
}

/// A test gateway config with the cloud link on; job files may come from 127.0.0.1 signed
/// by the test CA.
/// Starts the gateway with `drivers` and waits until its cloud link is connected.
pub async fn start_connected(config: Config, drivers: &HandDrivers) -> Running {
    let running = app::start(config, Arc::new(drivers.clone()), CancellationToken::new())
        .await
        .unwrap();
    let mut state = running.cloud.as_ref().unwrap().state.clone();
    tokio::time::timeout(PATIENCE, state.wait_for(LinkState::is_connected))
        .await
        .expect("the gateway never connected to the broker")
        .unwrap();
    running
}

pub fn with_cloud(mut config: Config, pki: &Pki, link: CloudLink) -> Config {
    assert_eq!(config.gateway.id, GATEWAY);
    config.cloud.enabled = true;
    config.cloud.link = Some(link);
    config.cloud.downloads.extra_ca_file = Some(pki.ca.clone());
    config
}

/// A message the test cloud received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: Value,
    pub correlation: Option<Bytes>,
    /// When the client's event loop handed it over.
    #[allow(dead_code, reason = "benches/cloud.rs reads it, no test does")]
    pub at: std::time::Instant,
}

/// The test's cloud: a v5 client with the `cloud` certificate, subscribed to the gateway.
pub struct Cloud {
    pub client: AsyncClient,
    pub seen: mpsc::Receiver<Seen>,
    /// Messages skipped by an earlier `next`, oldest first, searched before new ones.
    skipped: std::collections::VecDeque<Seen>,
}

impl Cloud {
    /// Connects and subscribes to everything under the gateway's prefix (its commands too).
    pub async fn connect(pki: &Pki, broker: &Broker, id: &str) -> Cloud {
        Cloud::connect_to(pki, broker, id, &format!("fluxprint/{GATEWAY}/#")).await
    }

    /// Connects and subscribes to `filter` only.
    pub async fn connect_to(pki: &Pki, broker: &Broker, id: &str, filter: &str) -> Cloud {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            pki.client_tls("cloud"),
        )));
        options.set_max_packet_size(Some(4 << 20));
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        options.set_network_options(network);
        // A persistent session: what the gateway publishes while this client is cut off (a
        // broker restart) waits for it at the broker.
        options.set_clean_start(false);
        options.set_session_expiry_interval(Some(3600));
        let (client, mut events) = AsyncClient::new(options, 1000);
        let (tx, seen) = mpsc::channel(100_000);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(ready) = ready_tx.take() {
                            let _ = ready.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let seen = Seen {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: serde_json::from_slice(&p.payload).unwrap_or(Value::Null),
                            correlation: p.properties.and_then(|p| p.correlation_data),
                            at: std::time::Instant::now(),
                        };
                        if tx.send(seen).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(PATIENCE, ready)
            .await
            .expect("the test cloud never got its SUBACK")
            .unwrap();
        Cloud {
            client,
            seen,
            skipped: Default::default(),
        }
    }

    /// Sends a command (QoS 1), optionally asking for the reply on `response_topic` too.
    pub async fn command(&self, name: &str, payload: Value, response: Option<(&str, &[u8])>) {
        let topic = format!("fluxprint/{GATEWAY}/cmd/{name}");
        let props = PublishProperties {
            response_topic: response.map(|(t, _)| t.to_owned()),
            correlation_data: response.map(|(_, c)| Bytes::copy_from_slice(c)),
            ..Default::default()
        };
        self.client
            .publish_with_properties(topic, QoS::AtLeastOnce, false, payload.to_string(), props)
            .await
            .unwrap();
    }

    pub async fn raw_command(&self, name: &str, payload: Vec<u8>) {
        let topic = format!("fluxprint/{GATEWAY}/cmd/{name}");
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    /// The oldest message satisfying `ok` (others are kept for later calls).
    pub async fn next(&mut self, what: &str, ok: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(index) = self.skipped.iter().position(&ok) {
            return self.skipped.remove(index).unwrap();
        }
        let (seen, skipped) = (&mut self.seen, &mut self.skipped);
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(message) = seen.recv().await {
                if ok(&message) {
                    return message;
                }
                skipped.push_back(message);
            }
            panic!("the test cloud's client stopped");
        })
        .await;
        found.unwrap_or_else(|_| panic!("the test cloud never saw: {what}"))
    }

    /// Waits for a message like `next`, but leaves it (and everything before it) to be read.
    pub async fn wait_for(&mut self, what: &str, ok: impl Fn(&Seen) -> bool) {
        let seen = self.next(what, ok).await;
        self.skipped.push_back(seen);
    }

    /// The reply to command `id` on the `reply` topic.
    pub async fn reply(&mut self, id: &str) -> Value {
        let topic = format!("fluxprint/{GATEWAY}/reply");
        self.next(&format!("the reply to {id}"), |s| {
            s.topic == topic && s.payload["id"] == id
        })
        .await
        .payload
    }
}

pub fn topic(suffix: &str) -> String {
    format!("fluxprint/{GATEWAY}/{suffix}")
}
