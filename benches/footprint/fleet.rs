//! The fleet part of the footprint benchmark: N gateway processes, one simulated printer
//! each, on one mosquitto; once every one of them is online (their retained `state`), the
//! memory of each and of the broker.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::common::mosquitto::{Broker, Cloud, Pki};
use super::process::{Gateway, Memory, Setup};

pub async fn run(n: usize, dir: &Path, pki: &Pki, broker: &Broker, env: &[(&str, &str)]) {
    let mut cloud = Cloud::connect_to(pki, broker, "footprint-fleet", "fluxprint/+/state").await;
    let mut gateways = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("gw-fleet-{i:03}");
        let (cert, key) = pki.cert(&id);
        let setup = Setup {
            id: &id,
            cloud: Some((broker.port, &pki.ca, cert, key)),
            speed_up: 1.0,
        };
        gateways.push(Gateway::start(&dir.join(&id), &setup, env));
    }
    let mut online = HashSet::new();
    while online.len() < n {
        let seen = cloud
            .next("every fleet gateway online", |s| {
                s.payload["online"] == true
            })
            .await;
        online.insert(seen.topic);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let readings: Vec<Memory> = gateways.iter().map(Gateway::memory).collect();
    let mean = |f: fn(&Memory) -> u64| readings.iter().map(f).sum::<u64>() as f64 / n as f64;
    let highest = readings.iter().fold(Memory::default(), |a, m| a.max(*m));
    let mib = |kib: f64| kib / 1024.0;
    println!(
        "5. fleet of {n} gateways, all online: per gateway RSS {:.1} MiB, anonymous {:.1} MiB \
         (mean); highest {highest}; all together {:.0} MiB RSS",
        mib(mean(|m| m.rss_kib)),
        mib(mean(|m| m.anon_kib)),
        mib(readings.iter().map(|m| m.rss_kib).sum::<u64>() as f64),
    );
    if let Some(pid) = broker.pid() {
        println!("   the broker for all {n}: {}", Memory::of(pid));
    }
}
