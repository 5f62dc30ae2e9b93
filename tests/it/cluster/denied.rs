//! A gateway whose certificate does not match its id (an operator's mistake): RabbitMQ
//! accepts the connection, then closes it at the first topic outside that certificate's
//! permissions (MQTT 3.1.1 has no negative acknowledgement). The gateway must not turn this
//! into a reconnect storm: a connection that did not last counts as a failed attempt, so the
//! jittered backoff keeps growing.

use super::*;
use common::rabbitmq::GATEWAYS;

/// How long connections are counted.
const WINDOW: Duration = Duration::from_secs(20);
/// With the backoff growing 0.5, 1, 2, 4, 8, 16 s (full jitter) a handful of connections
/// fit in the window; resetting it on every CONNACK makes it several dozen.
const MAX_CONNECTIONS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_for_a_refused_topic_is_retried_with_a_growing_backoff() {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let drivers = HandDrivers::default();
    // The certificate of `gw-rmq-denied`, whose permissions cover the session queue of
    // this id (they are a prefix: `^mqtt-subscription-gw-rmq-denied`) but not its topics.
    let id = format!("{}-other", GATEWAYS[4]);
    let config = gateway_config(dir.path(), &id, GATEWAYS[4], &[cluster.url(1)]);
    let running = app::start(config, Arc::new(drivers.clone()), CancellationToken::new())
        .await
        .unwrap();
    let mut link = running.cloud.as_ref().unwrap().state.clone();
    let mut connections = 0;
    let mut closed = 0;
    let _ = tokio::time::timeout(WINDOW, async {
        while link.changed().await.is_ok() {
            match &*link.borrow_and_update() {
                LinkState::Connected { epoch, .. } => connections = *epoch,
                LinkState::Down { .. } => closed += 1,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        connections >= 1 && closed >= 1,
        "the broker should accept, then close the connection (connections {connections}, \
         closed {closed})"
    );
    assert!(
        connections <= MAX_CONNECTIONS,
        "{connections} connections in {WINDOW:?}: a reconnect storm"
    );
    running.stop().await;
}
