//! Cloud down is not printer down: the broker is stopped mid-print (for as long as it takes
//! the print to make progress, at most the 30 s) and started again. The print goes
//! on meanwhile, and the cloud receives every event, in `seq` order, without a gap.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::mosquitto::*;
use common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::cloud::LinkState;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::domain::Percent;
use fluxprint_gateway::printer::driver::{DriverReport, Outcome};
use tokio_util::sync::CancellationToken;

/// The longest the broker stays down (the figure).
const OUTAGE_CAP: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_broker_outage_mid_print_loses_and_reorders_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let mut broker = Broker::start(&pki, dir.path());
    let mut cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let drivers = HandDrivers::default();
    let config = with_cloud(
        config(
            dir.path(),
            vec![printer("mk3s", [250.0, 210.0, 210.0], true)],
        ),
        &pki,
        link(&pki, broker.port, MqttVersion::V5),
    );
    let running = app::start(config, Arc::new(drivers.clone()), CancellationToken::new())
        .await
        .unwrap();
    let gw = running.gateway.clone();
    let mut link = running.cloud.as_ref().unwrap().state.clone();
    let mut end = drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    gw.submit(job_with_file(&gw, dir.path(), "part").await)
        .await
        .unwrap();
    let job = started_job(next_command(&mut end).await);
    report(
        &end,
        DriverReport::Progress {
            job,
            progress: Percent::new(10),
        },
    )
    .await;
    cloud
        .wait_for("progress 10", |s| {
            s.topic == topic("events") && s.payload["progress"] == 10
        })
        .await;

    broker.stop();
    tokio::time::timeout(
        PATIENCE,
        link.wait_for(|s| matches!(s, LinkState::Down { .. })),
    )
    .await
    .expect("the link never noticed the broker going")
    .unwrap();
    let mut stored = gw.subscribe();
    tokio::time::timeout(OUTAGE_CAP, async {
        for p in [20, 30, 40, 50, 60] {
            report(
                &end,
                DriverReport::Progress {
                    job,
                    progress: Percent::new(p),
                },
            )
            .await;
            stored.recv().await.unwrap();
        }
    })
    .await
    .expect("the print made no progress while the cloud was down");
    wait_status(gw.printers()[0].watch(), "60 % with the cloud down", |s| {
        s.current.is_some_and(|c| c.progress == Percent::new(60))
    })
    .await;
    assert!(!link.borrow().is_connected());
    broker.restart();

    report(
        &end,
        DriverReport::Finished {
            job,
            outcome: Outcome::Completed,
        },
    )
    .await;
    let mut seqs: Vec<u64> = Vec::new();
    let mut progress = Vec::new();
    loop {
        let event = cloud
            .next("events", |s| s.topic == topic("events"))
            .await
            .payload;
        let seq = event["seq"].as_u64().unwrap();
        if seqs.contains(&seq) {
            continue; // a QoS 1 duplicate after the reconnection
        }
        assert!(
            seqs.last().is_none_or(|last| seq == last + 1),
            "seq {seq} after {seqs:?}"
        );
        seqs.push(seq);
        if event["type"] == "print:status-update" {
            progress.push(event["progress"].as_u64().unwrap());
            if event["status"] == "completed" {
                break;
            }
        }
    }
    assert_eq!(seqs[0], 1);
    let during: Vec<u64> = progress
        .iter()
        .copied()
        .filter(|p| (10..=60).contains(p))
        .collect();
    assert_eq!(during, [10, 20, 30, 40, 50, 60], "{progress:?}");
    running.stop().await;
}
