//! Remote update figures (issue #16), with the update tests' farm (`tests/it/update/`): the
//! daemon as a process against the loopback test mosquitto, the release over HTTPS, the real
//! helper (`apply-update`) swapping binaries, the bench playing systemd.
//!
//! 1. update time: `gateway.update` sent → the committed reply (the new version reported
//!    healthy: store open, actors running, cloud connected, and answered the command);
//! 2. rollback time: `gateway.update` with a build that dies at start → the rolled-back reply
//!    from the old version, with `health_timeout_s = 3`.
//!
//!     scripts/build-update-next && cargo bench --bench update

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)] // each benchmark uses a different part of the test harness
mod common;
#[path = "../tests/it/update/farm.rs"]
#[allow(dead_code)]
mod update;

use std::time::{Duration, Instant};

use update::{Farm, Systemd};

const RUNS: usize = 5;

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn one(broken: bool) -> Duration {
    let farm = Farm::start("health_timeout_s = 3");
    let mut cloud = farm.cloud().await;
    let _systemd = Systemd::start(&farm);
    let release = if broken {
        b"#!/bin/sh\nexit 1\n".to_vec()
    } else {
        std::fs::read(update::next_build()).unwrap()
    };
    let args = farm.release(release, None).await;
    let started = Instant::now();
    let (_, reply) = update::update(&mut cloud, "bench", args).await;
    let took = started.elapsed();
    assert_eq!(reply["ok"], !broken, "{reply}");
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    for (name, broken) in [
        ("update (command -> committed reply)", false),
        (
            "rollback (command -> rolled-back reply, health_timeout_s = 3)",
            true,
        ),
    ] {
        let mut took = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            took.push(one(broken).await);
        }
        took.sort();
        println!(
            "{name}, {RUNS} runs: median {} min {} max {}",
            secs(took[RUNS / 2]),
            secs(took[0]),
            secs(took[RUNS - 1])
        );
    }
}
