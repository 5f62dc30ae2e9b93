//! Fleet lifecycle figures (issue #16) against a loopback mosquitto (the test broker: TLS,
//! client certificates, the claim ACL) and the tests' provisioning backend (signs with the
//! per-run CA):
//!
//! 1. enroll time: from the claim's connect to the gateway's own certificate connected
//!    (`cloud::enroll::enroll` then `confirm`, in process), over fresh state directories.
//!
//!     cargo bench --bench lifecycle

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;

use std::time::{Duration, Instant};

use common::mosquitto::*;
use common::provision::{Backend, Mode};
use fluxprint_gateway::cloud::enroll::{self, Enrollment};
use fluxprint_gateway::config::{ClaimFiles, LinkOptions, identity_files};

const ENROLLMENTS: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (claim_cert, claim_key) = pki.issue("claim:bench");
    let broker = Broker::start(&pki, dir.path());
    let _backend = Backend::start(
        &pki,
        &broker,
        "backend",
        Mode::Sign {
            lifetime: Duration::from_secs(86_400),
        },
    )
    .await;
    let claim = ClaimFiles {
        cert_file: claim_cert,
        key_file: claim_key,
    };
    let mut took = Vec::with_capacity(ENROLLMENTS);
    for run in 0..ENROLLMENTS {
        let state_dir = dir.path().join(format!("state-{run}"));
        let (cert_file, key_file) = identity_files(&state_dir);
        let mut link = link(
            &pki,
            broker.port,
            fluxprint_gateway::config::MqttVersion::V4,
        );
        link.cert_file = cert_file;
        link.key_file = key_file;
        link.options = LinkOptions::default();
        let started = Instant::now();
        let enrolled = enroll::enroll(&Enrollment {
            gateway_id: GATEWAY,
            link: &link,
            claim: &claim,
            state_dir: &state_dir,
            patience: Duration::from_secs(20),
        })
        .await
        .unwrap();
        assert!(enrolled.fresh);
        enroll::confirm(&link, GATEWAY, Duration::from_secs(20))
            .await
            .unwrap();
        took.push(started.elapsed());
    }
    took.sort();
    println!(
        "enroll (claim connect -> own certificate connected), {ENROLLMENTS} runs: \
         p50 {} p95 {} min {} max {}",
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.95)),
        ms(took[0]),
        ms(took[took.len() - 1]),
    );
}
