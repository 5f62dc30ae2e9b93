//! Enrollment by claim: from nothing, again (nothing happens), on first start from config,
//! resumed after a timeout and after a kill, refusals said clearly, and the claim kept off
//! device topics by the documented ACL.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use fluxprint_gateway::cloud::enroll::issued_file;
use fluxprint_gateway::config;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};

use super::{CLAIM, Fleet, text, write_config};
use crate::common::mosquitto::{Cloud, GATEWAY, start_connected};
use crate::common::provision::{Backend, Mode};
use crate::common::{HandDrivers, PATIENCE, printer};

const MONTH: Duration = Duration::from_secs(30 * 86_400);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The config file loaded, with a hand-driven printer in place of the simulated one.
fn loaded(fleet: &Fleet) -> config::Config {
    let mut config = config::load(&fleet.config_file).unwrap();
    config.printers = vec![printer("p1", [200.0, 200.0, 200.0], false)];
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolls_from_nothing_then_connects_with_its_own_certificate() {
    let fleet = Fleet::start();
    let mut backend = Backend::start(
        &fleet.pki,
        &fleet.broker,
        "backend",
        Mode::Sign { lifetime: MONTH },
    )
    .await;

    let out = fleet.enroll(20).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("enrolled as {GATEWAY}")),
        "{}",
        text(&out.stdout)
    );
    let asked = backend.next_asked().await;
    assert_eq!(
        asked.topic,
        format!("fluxprint/provision/{CLAIM}/{}/csr", asked.request_id)
    );
    crate::cloud_contract::assert_matches("provision-csr.json", &asked.payload);
    assert_eq!(asked.payload["gateway_id"], GATEWAY);
    let (cert, key) = fleet.identity();
    assert_eq!(mode(&key), 0o600, "the key is the gateway user's only");
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    assert_eq!(issued_file(&cert).unwrap().common_name, GATEWAY);
    assert!(!key.parent().unwrap().join("enroll.json").exists());

    // Idempotent: enrolled already, nothing asked, nothing changed.
    let key_before = std::fs::read(&key).unwrap();
    let cert_before = std::fs::read(&cert).unwrap();
    let again = fleet.enroll(20).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("already enrolled"),
        "{}",
        text(&again.stdout)
    );
    assert!(backend.asked.try_recv().is_err(), "a second CSR was sent");
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
    assert_eq!(std::fs::read(&cert).unwrap(), cert_before);

    // The daemon takes the enrolled identity (the config names no certificate, no claim).
    let config = loaded(&fleet);
    let link = config.cloud.link.as_ref().unwrap();
    assert_eq!((link.cert_file.clone(), link.key_file.clone()), (cert, key));
    assert!(config.cloud.claim.is_none());
    let running = start_connected(config, &HandDrivers::default()).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolls_on_first_start_from_the_config_and_only_then() {
    let fleet = Fleet::start();
    let mut backend = Backend::start(
        &fleet.pki,
        &fleet.broker,
        "backend",
        Mode::Sign { lifetime: MONTH },
    )
    .await;
    let claim = format!(
        "claim_cert_file = \"{}\"\nclaim_key_file = \"{}\"\n",
        fleet.claim.0.display(),
        fleet.claim.1.display()
    );
    write_config(
        &fleet.config_file,
        &fleet.state_dir,
        &fleet.pki,
        fleet.broker.port,
        &claim,
    );
    let running = start_connected(loaded(&fleet), &HandDrivers::default()).await;
    backend.next_asked().await;
    running.stop().await;
    assert_eq!(
        issued_file(&fleet.identity().0).unwrap().common_name,
        GATEWAY
    );

    // The next start uses the stored identity: a backend that now refuses is never asked.
    backend.set_mode(Mode::Refuse("batch-closed"));
    let running = start_connected(loaded(&fleet), &HandDrivers::default()).await;
    running.stop().await;
    assert!(
        backend.asked.try_recv().is_err(),
        "the claim was used again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_enrollment_goes_on_with_the_same_key_and_request() {
    let fleet = Fleet::start();
    let mut backend = Backend::start(&fleet.pki, &fleet.broker, "backend", Mode::Silent).await;
    let (cert, key) = fleet.identity();

    // 1. The cloud does not answer: a clear timeout; the key and the request stay.
    let out = fleet.enroll(1).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no answer within"),
        "{}",
        text(&out.stderr)
    );
    let first = backend.next_asked().await;
    assert_eq!(mode(&key), 0o600);
    assert!(!cert.exists());
    let key_bytes = std::fs::read(&key).unwrap();

    // 2. Killed (SIGKILL) while the cloud holds its answer.
    backend.hold();
    backend.set_mode(Mode::Sign { lifetime: MONTH });
    let mut child = fleet.enroll_command(20).spawn().unwrap();
    let second = backend.next_asked().await;
    child.kill().await.unwrap();
    backend.release();
    assert!(!cert.exists());

    // A crash while the certificate was being written leaves a partial file beside it.
    let partial = cert.with_file_name("gateway.pem.partial");
    std::fs::write(&partial, "-----BEGIN CERTIF").unwrap();

    // 3. Run again: the same key, the same request id, and done.
    let out = fleet.enroll(20).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let third = backend.next_asked().await;
    assert_eq!(second.request_id, first.request_id);
    assert_eq!(third.request_id, first.request_id);
    assert_eq!(
        std::fs::read(&key).unwrap(),
        key_bytes,
        "the key was made again"
    );
    assert_eq!(issued_file(&cert).unwrap().common_name, GATEWAY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_said_clearly() {
    let fleet = Fleet::start();
    let _backend = Backend::start(
        &fleet.pki,
        &fleet.broker,
        "backend",
        Mode::Refuse("not-in-batch"),
    )
    .await;
    let out = fleet.enroll(20).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the cloud refused the CSR: not-in-batch"),
        "{stderr}"
    );
    assert!(!fleet.identity().0.exists());

    // A claim from another CA: the broker refuses the connection.
    let (stranger, _) = crate::common::pki::new_ca("stranger CA");
    let (cert, key) = crate::common::pki::leaf(&stranger, CLAIM, &[]);
    let (cert_file, key_file) = (
        fleet.dir.path().join("x.pem"),
        fleet.dir.path().join("x.key"),
    );
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"))
        .arg("enroll")
        .arg("--config")
        .arg(&fleet.config_file)
        .arg("--claim-cert")
        .arg(&cert_file)
        .arg("--claim-key")
        .arg(&key_file)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the broker refused the connection"),
        "{stderr}"
    );
}

/// A v4 client with the claim certificate; `filters` subscribed, SUBACKs awaited.
async fn claim_client(fleet: &Fleet, filters: &[&str]) -> (AsyncClient, rumqttc::EventLoop) {
    let mut options = MqttOptions::new("claim-probe", "127.0.0.1", fleet.broker.port);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        fleet.pki.client_tls(CLAIM),
    )));
    let (client, mut events) = AsyncClient::new(options, 10);
    for filter in filters {
        client.subscribe(*filter, QoS::AtLeastOnce).await.unwrap();
    }
    let mut acked = 0;
    while acked < filters.len() {
        let event = tokio::time::timeout(PATIENCE, events.poll())
            .await
            .unwrap()
            .unwrap();
        if let Event::Incoming(Packet::SubAck(_)) = event {
            acked += 1;
        }
    }
    (client, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_cannot_reach_device_topics() {
    let fleet = Fleet::start();
    let mut watcher = Cloud::connect_to(&fleet.pki, &fleet.broker, "watcher", "fluxprint/#").await;
    let own = format!("fluxprint/provision/{CLAIM}/probe");
    let (claim, mut events) = claim_client(
        &fleet,
        &[
            &format!("fluxprint/{GATEWAY}/cmd/#"),
            &format!("{own}/cert"),
        ],
    )
    .await;
    let events_task = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => return p.topic,
                Ok(_) => {}
                Err(e) => panic!("the claim's connection failed: {e}"),
            }
        }
    });

    // Publishing as a device: dropped by the broker (MQTT 3.1.1 still acks it). The marker
    // on the claim's own topic goes after it, in order, so it arriving alone is the proof.
    let device_events = format!("fluxprint/{GATEWAY}/events");
    claim
        .publish(&device_events, QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    claim
        .publish(format!("{own}/csr"), QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let first = watcher
        .next("the claim's publishes", |s| {
            s.topic == device_events || s.topic == format!("{own}/csr")
        })
        .await;
    assert_eq!(
        first.topic,
        format!("{own}/csr"),
        "the claim published as a device"
    );

    // Reading a device's commands: its (granted-looking) subscription gets nothing; the
    // answer on its own topic, sent after the command, is the first thing it sees.
    let command = format!("fluxprint/{GATEWAY}/cmd/state.get");
    watcher
        .client
        .publish(
            &command,
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    watcher
        .client
        .publish(
            format!("{own}/cert"),
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(PATIENCE, events_task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen,
        format!("{own}/cert"),
        "the claim read a device's command"
    );
}
