//! Whom the link trusts and what the broker lets it reach: a broker certificate from
//! another CA is never accepted, and the contract's ACL keeps a gateway to its own topics.

use super::*;

#[tokio::test]
async fn a_broker_with_a_certificate_from_another_ca_is_never_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut link = link(&pki, broker.port, MqttVersion::V5);
    link.ca_file = pki.stranger_ca.clone();
    let config = with_cloud(
        config(dir.path(), vec![printer("mk3s", [200.0; 3], false)]),
        &pki,
        link,
    );
    let running = app::start(
        config,
        Arc::new(HandDrivers::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut state = running.cloud.as_ref().unwrap().state.clone();
    let down = tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, LinkState::Down { .. })),
    )
    .await
    .expect("the link never reported the failed handshake")
    .unwrap()
    .clone();
    let LinkState::Down { error, .. } = down else {
        unreachable!()
    };
    assert!(
        error.contains("certificate") || error.contains("Certificate"),
        "{error}"
    );
    assert!(!state.borrow().is_connected());
    running.stop().await;
}

#[tokio::test]
async fn the_acl_keeps_a_gateway_to_its_own_topics() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let mut options = MqttOptions::new("gw-test-acl-probe", "127.0.0.1", broker.port);
    options.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(pki.client_tls(GATEWAY)),
    ));
    let (client, mut events) = AsyncClient::new(options, 10);
    client
        .publish("fluxprint/gw-other/events", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    client
        .publish(topic("events"), QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let mut reasons = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while reasons.len() < 2 {
            if let Event::Incoming(Packet::PubAck(ack)) = events.poll().await.unwrap() {
                reasons.push(ack.reason);
            }
        }
    })
    .await
    .expect("no PUBACKs");
    // Its own topic is allowed (nobody else listens to this probe, hence "no subscribers").
    assert_eq!(
        reasons,
        [
            PubAckReason::NotAuthorized,
            PubAckReason::NoMatchingSubscribers
        ]
    );
    drop(broker);
}
