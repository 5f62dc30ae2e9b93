//! Certificate renewal: a short-lived certificate triggers `gateway:cert-renewal` after its
//! `renew_at_percent`, the test cloud signs the CSR with the per-run CA and sends
//! `cert.install`, the gateway reconnects with it (proved by the broker: once the old
//! certificate has expired, a broker restart is survived); a renewal due while the broker is
//! away reaches the cloud once it is back (an outbox event); wrong certificates are refused
//! with a reason and the old identity kept; an expired certificate is reported (log, `/metrics`,
//! `/api/status` and the page's banner, in Chromium).

use std::path::Path;
use std::time::Duration;

use fluxprint_gateway::cloud::enroll::{csr_pem, issued_file};
use fluxprint_gateway::cloud::gate::LinkState;
use fluxprint_gateway::config;
use fluxprint_gateway::events::EventKind;
use rcgen::KeyPair;
use serde_json::{Value, json};

use super::{Fleet, write_config};
use crate::common::mosquitto::{Cloud, GATEWAY, start_connected};
use crate::common::provision::sign;
use crate::common::{HandDrivers, PATIENCE, printer};

const MONTH: Duration = Duration::from_secs(30 * 86_400);

/// Writes the enrolled identity for `gw-test`, valid from `from` to `to` seconds from now.
fn write_identity(fleet: &Fleet, from: i64, to: i64) -> i64 {
    let (cert, key_file) = fleet.identity();
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let csr = csr_pem(&key, GATEWAY).unwrap();
    let mut request = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
    let now = time::OffsetDateTime::now_utc();
    request.params.not_before = now + time::Duration::seconds(from);
    request.params.not_after = now + time::Duration::seconds(to);
    let pem = request.signed_by(&fleet.pki.issuer()).unwrap().pem();
    std::fs::write(&cert, pem).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    issued_file(&cert).unwrap().not_after
}

fn loaded(fleet: &Fleet, renew_at_percent: u8) -> config::Config {
    write_config(
        &fleet.config_file,
        &fleet.state_dir,
        &fleet.pki,
        fleet.broker.port,
        &format!("renew_at_percent = {renew_at_percent}\n"),
    );
    let mut config = config::load(&fleet.config_file).unwrap();
    config.printers = vec![printer("p1", [200.0, 200.0, 200.0], false)];
    config
}

/// The next `gateway:cert-renewal` event's CSR.
async fn renewal_csr(cloud: &mut Cloud) -> String {
    let seen = cloud
        .next("a gateway:cert-renewal event", |s| {
            s.topic.ends_with("/events") && s.payload["type"] == "gateway:cert-renewal"
        })
        .await;
    crate::cloud_contract::assert_matches("event.json", &seen.payload);
    seen.payload["csr"].as_str().unwrap().to_owned()
}

async fn install(cloud: &mut Cloud, id: &str, certificate: &str) -> Value {
    let command = json!({"v": 1, "id": id, "args": {"certificate": certificate}});
    cloud.command("cert.install", command, None).await;
    cloud.reply(id).await
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renews_at_its_share_of_the_lifetime_and_connects_with_the_new_certificate() {
    let mut fleet = Fleet::start();
    let mut cloud = Cloud::connect(&fleet.pki, &fleet.broker, "cloud").await;
    // Valid 4 s from a second ago: due at 25 % (~0.25 s from now), expired soon after.
    let old_expiry = write_identity(&fleet, -1, 4);
    let running = start_connected(loaded(&fleet, 25), &HandDrivers::default()).await;
    let handle = running.cloud.clone().unwrap();

    let csr = renewal_csr(&mut cloud).await;
    // Past its renewal point and not yet renewed: the page's banner shows.
    let shown = status_certificate(&running, &fleet).await;
    assert_eq!(shown["not_after"], old_expiry, "{shown}");
    assert!(
        shown["expiring"] == true || shown["expired"] == true,
        "{shown}"
    );
    let (cert, key) = fleet.identity();
    let next_key = key.with_extension("key.next");
    assert_eq!(
        mode(&next_key),
        0o600,
        "the new key is the gateway user's only"
    );
    let pem = sign(&fleet.pki.issuer(), &csr, GATEWAY, MONTH);
    let reply = install(&mut cloud, "install-1", &pem).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let new_expiry = reply["result"]["not_after"].as_i64().unwrap();
    assert!(new_expiry > old_expiry + 86_400);

    // Promoted only after a connection with it succeeded.
    let mut certificate = handle.certificate.clone();
    tokio::time::timeout(
        PATIENCE,
        certificate.wait_for(|c| c.as_ref().is_some_and(|c| c.not_after == new_expiry)),
    )
    .await
    .expect("the renewed certificate never became the gateway's")
    .unwrap();
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), pem);
    assert!(!next_key.exists());
    let state = cloud
        .next("the retained state with the new expiry", |s| {
            s.topic.ends_with("/state") && s.payload["certificate"]["not_after"] == new_expiry
        })
        .await;
    crate::cloud_contract::assert_matches("state.json", &state.payload);
    let metrics = metrics(&running).await;
    assert!(
        metrics.contains(&format!(
            "fluxprint_cloud_cert_expiry_seconds {new_expiry}\n"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("fluxprint_cloud_cert_expired 0\n"),
        "{metrics}"
    );
    let shown = status_certificate(&running, &fleet).await;
    assert_eq!(shown["not_after"], new_expiry, "{shown}");
    assert_eq!(shown["expiring"], false, "renewed: no banner; {shown}");
    assert_eq!(shown["expired"], false, "{shown}");

    // The broker's proof: with the old certificate expired, a restarted broker takes the
    // gateway back only if it presents the new one.
    let wait = (old_expiry + 1 - unix_now()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let mut state = handle.state.clone();
    let epoch = connected_epoch(&state.borrow());
    fleet.broker.restart();
    tokio::time::timeout(PATIENCE, state.wait_for(|s| connected_epoch(s) > epoch))
        .await
        .expect("the gateway did not reconnect with its renewed certificate")
        .unwrap();
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_due_while_the_broker_is_down_goes_through_once_it_is_back() {
    let mut fleet = Fleet::start();
    let mut cloud = Cloud::connect(&fleet.pki, &fleet.broker, "cloud").await;
    // Valid 61 s from a second ago (long enough to outlast the link's backoff), due at 8 %:
    // ~4 s from now, while the broker is away.
    write_identity(&fleet, -1, 60);
    let running = start_connected(loaded(&fleet, 8), &HandDrivers::default()).await;
    let handle = running.cloud.clone().unwrap();
    let mut events = running.gateway.subscribe();
    fleet.broker.stop();
    let mut state = handle.state.clone();
    tokio::time::timeout(PATIENCE, state.wait_for(|s| !s.is_connected()))
        .await
        .expect("the link never noticed the broker left")
        .unwrap();
    let asked = tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.unwrap();
            if matches!(event.kind, EventKind::CertRenewal { .. }) {
                return event;
            }
        }
    })
    .await
    .expect("no renewal while the broker was away");
    assert!(
        !handle.state.borrow().is_connected(),
        "asked while connected"
    );

    fleet.broker.restart();
    let csr = renewal_csr(&mut cloud).await;
    let pem = sign(&fleet.pki.issuer(), &csr, GATEWAY, MONTH);
    let reply = install(&mut cloud, "install-after-restart", &pem).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let expected = reply["result"]["not_after"].as_i64().unwrap();
    let mut certificate = handle.certificate.clone();
    tokio::time::timeout(
        PATIENCE,
        certificate.wait_for(|c| c.as_ref().is_some_and(|c| c.not_after == expected)),
    )
    .await
    .expect("the renewed certificate never became the gateway's")
    .unwrap();
    assert!(asked.seq > 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_certificate_is_refused_and_the_old_identity_kept() {
    let fleet = Fleet::start();
    let mut cloud = Cloud::connect(&fleet.pki, &fleet.broker, "cloud").await;
    write_identity(&fleet, -60, 30 * 86_400);
    let running = start_connected(loaded(&fleet, 67), &HandDrivers::default()).await;
    let (cert, _) = fleet.identity();
    let before = std::fs::read(&cert).unwrap();

    // Nothing asked yet: an install has no key to match.
    let stray = sign(&fleet.pki.issuer(), &other_csr(), GATEWAY, MONTH);
    let reply = install(&mut cloud, "early", &stray).await;
    assert_eq!(reply["error"]["code"], "no_renewal", "{reply}");

    cloud
        .command(
            "cert.renew",
            json!({"v": 1, "id": "renew-1", "args": {}}),
            None,
        )
        .await;
    assert_eq!(cloud.reply("renew-1").await["ok"], true);
    let csr = renewal_csr(&mut cloud).await;

    // Another key, another CA, another name: each refused with its reason.
    let reply = install(&mut cloud, "other-key", &stray).await;
    assert_eq!(reply["error"]["code"], "certificate_refused", "{reply}");
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("key"),
        "{reply}"
    );
    let stranger = stranger_ca(fleet.dir.path());
    let reply = install(
        &mut cloud,
        "other-ca",
        &sign(&stranger, &csr, GATEWAY, MONTH),
    )
    .await;
    assert_eq!(reply["error"]["code"], "certificate_refused", "{reply}");
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("CA"),
        "{reply}"
    );
    let reply = install(
        &mut cloud,
        "other-cn",
        &sign(&fleet.pki.issuer(), &csr, "gw-other", MONTH),
    )
    .await;
    assert_eq!(reply["error"]["code"], "certificate_refused", "{reply}");

    assert_eq!(
        std::fs::read(&cert).unwrap(),
        before,
        "the old certificate changed"
    );
    assert!(
        running
            .cloud
            .as_ref()
            .unwrap()
            .state
            .borrow()
            .is_connected()
    );
    // The good one after all that still goes in.
    let reply = install(
        &mut cloud,
        "good",
        &sign(&fleet.pki.issuer(), &csr, GATEWAY, MONTH),
    )
    .await;
    assert_eq!(reply["ok"], true, "{reply}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_expired_while_offline_is_reported() {
    let fleet = Fleet::start();
    let expired = write_identity(&fleet, -7200, -3600);
    let running = fluxprint_gateway::app::start(
        loaded(&fleet, 67),
        std::sync::Arc::new(HandDrivers::default()),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let handle = running.cloud.clone().unwrap();
    assert_eq!(
        handle.certificate.borrow().as_ref().map(|c| c.not_after),
        Some(expired)
    );
    let mut state = handle.state.clone();
    let down = tokio::time::timeout(
        PATIENCE,
        state.wait_for(|s| matches!(s, LinkState::Down { .. })),
    )
    .await
    .expect("the link never said it is down")
    .unwrap()
    .clone();
    let LinkState::Down { error, .. } = down else {
        unreachable!()
    };
    assert!(error.to_lowercase().contains("expired"), "{error}");
    let metrics = metrics(&running).await;
    assert!(
        metrics.contains("fluxprint_cloud_cert_expired 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("fluxprint_cloud_cert_expiry_seconds {expired}\n")),
        "{metrics}"
    );
    let shown = status_certificate(&running, &fleet).await;
    assert_eq!(shown["not_after"], expired, "{shown}");
    assert_eq!(shown["expired"], true, "the page's banner says it; {shown}");
    // And the page says it, in a real browser.
    let browser = crate::common::browser::Browser::start().await;
    browser
        .client
        .goto(&format!("http://{}/", running.web_addr()))
        .await
        .unwrap();
    let banner = browser
        .wait_for_text(
            "the expired-certificate banner",
            "const b = document.getElementById('cert-banner'); \
             return b && !b.hidden && b.dataset.state === 'expired' ? b.textContent : null;",
        )
        .await;
    assert!(banner.contains("expired"), "{banner}");
    browser.close().await;
    running.stop().await;
}

/// `cloud_certificate` from `GET /api/status` (what the page's certificate banner reads).
async fn status_certificate(running: &fluxprint_gateway::app::Running, fleet: &Fleet) -> Value {
    let key = std::fs::read_to_string(fleet.state_dir.join("api-key")).ok();
    let (status, text) = crate::web_live::scrape::http_get(
        running.web_addr(),
        "/api/status",
        key.as_deref().map(str::trim),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["cloud_certificate"].clone()
}

async fn metrics(running: &fluxprint_gateway::app::Running) -> String {
    let (status, text) =
        crate::web_live::scrape::http_get(running.web_addr(), "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    text
}

fn connected_epoch(state: &LinkState) -> u64 {
    match state {
        LinkState::Connected { epoch, .. } => *epoch,
        _ => 0,
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn other_csr() -> String {
    csr_pem(&KeyPair::generate().unwrap(), GATEWAY).unwrap()
}

fn stranger_ca(dir: &Path) -> rcgen::Issuer<'static, KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stranger");
    let key = KeyPair::generate().unwrap();
    std::fs::write(
        dir.join("stranger.pem"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    rcgen::Issuer::new(params, key)
}
