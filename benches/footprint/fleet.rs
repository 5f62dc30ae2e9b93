//! The fleet part of the footprint benchmark: N gateway processes, one simulated printer
//! each, on one mosquitto of their own (a PKI with a certificate per gateway); once every one
//! of them is online (their retained `state`), the memory of each and of the broker.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{CertificateParams, DnType, Issuer, KeyPair};

use super::common::mosquitto::{Broker, Cloud, Pki};
use super::common::pki::new_ca;
use super::process::{Gateway, Memory, Setup};

fn id(i: usize) -> String {
    format!("gw-fleet-{i:03}")
}

/// A CA, the broker's certificate, the cloud's and one per gateway, in `dir`.
fn fleet_pki(dir: &Path, n: usize) -> Pki {
    let dir = dir.join("fleet-pki");
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, ca_cert) = new_ca("fleet CA");
    let write = |name: String, pem: String| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let leaf = |cn: &str, names: Vec<String>| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca as &Issuer<'_, KeyPair>).unwrap();
        write(format!("{cn}.pem"), cert.pem());
        write(format!("{cn}.key"), key.serialize_pem());
    };
    leaf("broker", vec!["127.0.0.1".into()]);
    leaf("cloud", vec![]);
    for i in 0..n {
        leaf(&id(i), vec![]);
    }
    let ca = write("ca.pem".into(), ca_cert.pem());
    Pki {
        stranger_ca: ca.clone(),
        ca,
        server_cert: dir.join("broker.pem"),
        server_key: dir.join("broker.key"),
        dir,
    }
}

pub async fn run(n: usize, dir: &Path, env: &[(&str, &str)]) {
    let pki = &fleet_pki(dir, n);
    let broker = &Broker::start(pki, &dir.join("fleet-broker"));
    let mut cloud = Cloud::connect_to(pki, broker, "footprint-fleet", "fluxprint/+/state").await;
    let mut gateways = Vec::with_capacity(n);
    for i in 0..n {
        let id = id(i);
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
