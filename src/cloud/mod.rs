//! The link to the FluxPrint cloud over MQTT with mutual TLS (DESIGN.md "Cloud contract",
//! docs/asyncapi.yaml).
//!
//! One MQTT client per gateway. Its event loop is polled by one task (`link`) that never
//! publishes; everything goes out through the `gate` from other tasks: the event publisher
//! (`publisher`, the store-and-forward outbox), the command executor (`commands`; each
//! command in its own file under `cmd`; downloads in `submit`) and the state and telemetry
//! reporter (`telemetry`). `session` holds the socket-free logic (which event the broker
//! acknowledged, reconnect backoff), `mqtt` hides the difference between MQTT 3.1.1 and 5,
//! `payload`, `cmd` and `args` are the wire contract. Nothing here can pause, cancel or block
//! a print or the LAN: the link only reads printer state and calls the same `Gateway` methods
//! the LAN calls.

mod args;
mod cmd;
pub mod commands;
mod dispatch;
pub mod enroll;
pub mod fetch;
pub mod gate;
mod link;
pub mod mqtt;
pub mod payload;
pub mod publisher;
pub mod renew;
pub mod session;
pub mod submit;
pub mod telemetry;
pub mod tls;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{CloudLink, DownloadsConfig};
use crate::gateway::CommandError;
use crate::gateway::Gateway;

pub use gate::LinkState;

/// Commands received and not yet executed; beyond this the polling task holds them
/// (`link::OVERFLOW`), then answers `busy`.
const COMMAND_QUEUE: usize = 256;
/// Where downloaded job files go, under the state directory.
pub const FILES_DIR: &str = "files";

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("cloud link TLS settings: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cloud downloads: {0}")]
    Fetch(#[from] fetch::FetchError),
    #[error("cloud.url {0} names no host")]
    NoHost(url::Url),
    #[error("cannot create the job files directory: {0}")]
    FilesDir(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] CommandError),
    #[error("enrollment: {0}")]
    Enroll(#[from] enroll::EnrollError),
    #[error("certificate renewal: {0}")]
    Renew(#[from] renew::RenewError),
}

/// What the rest of the gateway (and the tests) see of a running link.
#[derive(Clone)]
pub struct CloudHandle {
    pub state: watch::Receiver<LinkState>,
    /// The highest event `seq` the broker acknowledged.
    pub broker_acked: watch::Receiver<u64>,
    /// The validity of the certificate the link presents (renewal updates it).
    pub certificate: watch::Receiver<Option<enroll::Issued>>,
}

/// Everything `start` needs.
pub struct CloudSetup<'c> {
    pub gateway_id: &'c str,
    pub link: &'c CloudLink,
    pub downloads: &'c DownloadsConfig,
    pub state_dir: &'c std::path::Path,
    /// `[update]`: the release key `gateway.update` checks signatures with.
    pub update: &'c crate::config::UpdateConfig,
}

/// Starts the link's tasks on `tasks`; they stop when `shutdown` is cancelled.
pub async fn start(
    setup: CloudSetup<'_>,
    gateway: Gateway,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<CloudHandle, CloudError> {
    let link = setup.link;
    let files = renew::Files::new(&link.cert_file, &link.key_file);
    let switching = files.recover().map_err(renew::RenewError::Files)?;
    let identity = Arc::new(if switching {
        tls::Identity::load(&files.next_cert, &files.next_key)?
    } else {
        tls::Identity::load(&link.cert_file, &link.key_file)?
    });
    let tls = tls::link_config(&link.ca_file, identity.clone())?;
    let fetcher = fetch::Fetcher::new(setup.downloads)?;
    let failed = submit::Submissions::fail_interrupted(&gateway).await?;
    for job in failed {
        tracing::warn!(job = %job, "{}", submit::FETCH_INTERRUPTED);
    }
    let updates = Arc::new(cmd::Updates {
        public_key: setup.update.public_key,
        fetcher: Arc::new(fetcher.clone()),
        files: crate::update::UpdateFiles::new(setup.state_dir),
    });
    let submissions = submit::Submissions::new(
        fetcher,
        setup.state_dir.join(FILES_DIR),
        tasks.clone(),
        shutdown.clone(),
    )
    .map_err(CloudError::FilesDir)?;
    let brokers = std::iter::once(&link.url)
        .chain(&link.fallback_urls)
        .map(broker)
        .collect::<Result<Vec<_>, _>>()?;
    let topics = payload::Topics::new(setup.gateway_id);
    let (client, events) = mqtt::connect(mqtt::Endpoint {
        brokers,
        client_id: setup.gateway_id.to_owned(),
        version: link.options.mqtt_version,
        keepalive: link.options.keepalive,
        tls,
        will_topic: topics.state(),
        will_payload: telemetry::offline_payload(),
    });
    let resume = publisher::resume_point(&gateway).await?;
    let gate = Arc::new(gate::Gate::new(client, resume));
    let renewal = Arc::new(renew::Renewal::new(
        setup.gateway_id,
        &link.ca_file,
        files,
        identity,
        gateway.clone(),
        gate.clone(),
        link.options.renew_at_percent,
        switching,
    ));
    let handle = CloudHandle {
        state: gate.link(),
        broker_acked: gate.acked(),
        certificate: renewal.certificate(),
    };
    tasks.spawn(renewal.clone().run(shutdown.clone()));
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let replays = Arc::new(publisher::Replays::default());
    let options = link.options.clone();
    tasks.spawn(
        link::Poller {
            events,
            gate: gate.clone(),
            commands: commands_tx,
            topics: topics.clone(),
            max_command_bytes: options.max_command_bytes,
            offline: offline_message(&topics),
            overflow: Default::default(),
        }
        .run(shutdown.clone()),
    );
    tasks.spawn(publisher::publish_events(
        gate.clone(),
        gateway.clone(),
        topics.events(),
        replays.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(publisher::keep_outbox(
        gateway.clone(),
        gate.acked(),
        options.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(
        commands::Executor {
            gateway: gateway.clone(),
            gate: gate.clone(),
            topics: topics.clone(),
            replays,
            max_command_bytes: options.max_command_bytes,
            submissions,
            renewal,
            updates,
        }
        .run(commands_rx, shutdown.clone()),
    );
    tasks.spawn(
        telemetry::Reporter {
            gateway,
            gate,
            topics,
            options,
            certificate: handle.certificate.clone(),
        }
        .run(shutdown),
    );
    Ok(handle)
}

/// Where an `mqtts://` URL points (8883 unless it says otherwise).
fn broker(url: &url::Url) -> Result<mqtt::Broker, CloudError> {
    let host = url
        .host_str()
        .ok_or_else(|| CloudError::NoHost(url.clone()))?;
    Ok(mqtt::Broker {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().unwrap_or(8883),
    })
}

fn offline_message(topics: &payload::Topics) -> mqtt::Message {
    mqtt::Message {
        topic: topics.state(),
        payload: telemetry::offline_payload(),
        qos: rumqttc::QoS::AtLeastOnce,
        retain: true,
        correlation: None,
    }
}
