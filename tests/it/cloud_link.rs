//! The cloud link against a real mosquitto (TLS with client certificates, the contract's
//! ACL): commands in, one reply each, events out in `seq` order, MQTT 5 and 3.1.1.

use crate::common;

mod trust;

use std::sync::Arc;

use common::file_server::FileServer;
use common::mosquitto::*;
use common::*;
use fluxprint_gateway::app::{self, Running};
use fluxprint_gateway::cloud::LinkState;
use fluxprint_gateway::config::MqttVersion;
use fluxprint_gateway::domain::Percent;
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gcode::estimate::{self, Quality};
use fluxprint_gateway::printer::driver::{DriverReport, Outcome};
use fluxprint_gateway::wire::EstimateJson;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct World {
    /// Kept for the test's length: the state dir and the broker's files.
    _dir: tempfile::TempDir,
    pki: Pki,
    _broker: Broker,
    drivers: HandDrivers,
    running: Running,
    cloud: Cloud,
}

async fn world(version: MqttVersion) -> World {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let broker = Broker::start(&pki, dir.path());
    let cloud = Cloud::connect(&pki, &broker, "test-cloud").await;
    let drivers = HandDrivers::default();
    let config = with_cloud(
        config(
            dir.path(),
            vec![printer("mk3s", [250.0, 210.0, 210.0], true)],
        ),
        &pki,
        link(&pki, broker.port, version),
    );
    let running = start_connected(config, &drivers).await;
    World {
        _dir: dir,
        pki,
        _broker: broker,
        drivers,
        running,
        cloud,
    }
}

fn cmd(id: &str, args: Value) -> Value {
    json!({"v": 1, "id": id, "args": args})
}

/// Event `seq`s seen on `events`, first sightings only, must run without a gap.
fn assert_contiguous(seqs: &[u64]) {
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "event seqs not contiguous: {seqs:?}");
    }
}

#[tokio::test]
async fn a_submitted_job_is_replied_fetched_analysed_printed_and_reported_with_contiguous_seqs() {
    let mut w = world(MqttVersion::V5).await;
    let part = b"G28\nG90\nM83\nG1 X10 Y10 F3000\nG1 X110 Y10 E5 F1200\nG1 X110 Y110 E5\n";
    let file = FileServer::start(&w.pki, "part.gcode", part.to_vec()).await;
    let mut end = w.drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    let args = json!({"job_id": "c-42", "project_id": "p-1",
        "file": {"name": "part.gcode", "url": file.url, "sha256": file.sha256}});
    w.cloud
        .command(
            "job.submit",
            cmd("s-1", args),
            Some((&topic("reply/app-1"), b"corr-1")),
        )
        .await;
    let reply = w.cloud.reply("s-1").await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["status"], "queued");
    assert_eq!(reply["result"]["stage"], "fetching");
    let direct = w
        .cloud
        .next("the reply on the response topic", |s| {
            s.topic == topic("reply/app-1")
        })
        .await;
    assert_eq!(direct.payload["id"], "s-1");
    assert_eq!(direct.correlation.as_deref(), Some(&b"corr-1"[..]));

    let job = started_job(next_command(&mut end).await);
    let fetched = w.running.gateway.job(job).await.unwrap();
    let estimate = fetched
        .estimated_time_s
        .expect("the fetched file was analysed");
    assert!(estimate > 0, "an estimate of {estimate} s");
    assert!(fetched.estimated_cost.is_some_and(|c| c > 0.0));
    for p in [10, 50, 90] {
        report(
            &end,
            DriverReport::Progress {
                job,
                progress: Percent::new(p),
            },
        )
        .await;
    }
    report(
        &end,
        DriverReport::Finished {
            job,
            outcome: Outcome::Completed,
        },
    )
    .await;

    let mut seqs = Vec::new();
    let mut statuses = Vec::new();
    loop {
        let event = w
            .cloud
            .next("events", |s| s.topic == topic("events"))
            .await
            .payload;
        let seq = event["seq"].as_u64().unwrap();
        if seqs.last().is_some_and(|last| seq <= *last) {
            continue; // a QoS 1 duplicate
        }
        seqs.push(seq);
        if event["type"] == "print:status-update" {
            assert_eq!(event["job_id"], "c-42");
            statuses.push((
                event["status"].as_str().unwrap().to_owned(),
                event["progress"].clone(),
            ));
            if event["status"] == "printing" && event["progress"] != 0 {
                assert!(event["remaining_time"].is_u64(), "{event}");
            }
            if event["status"] == "completed" {
                break;
            }
        }
    }
    assert_contiguous(&seqs);
    assert_eq!(seqs[0], 1, "the first event is the first one published");
    let names: Vec<&str> = statuses.iter().map(|(s, _)| s.as_str()).collect();
    assert!(names.starts_with(&["queued", "printing"]), "{statuses:?}");
    assert_eq!(names.last(), Some(&"completed"));
    w.running.stop().await;
}

#[tokio::test]
async fn a_repeated_command_id_gets_the_stored_reply_and_changes_nothing() {
    let mut w = world(MqttVersion::V5).await;
    let file = FileServer::start(&w.pki, "a.gcode", b"G28\n".to_vec()).await;
    let args = json!({"job_id": "c-1", "file": {"name": "a.gcode", "url": file.url, "sha256": file.sha256}});
    w.cloud
        .command("job.submit", cmd("dup-1", args.clone()), None)
        .await;
    let first = w.cloud.reply("dup-1").await;
    w.cloud
        .command("job.submit", cmd("dup-1", args), None)
        .await;
    let second = w.cloud.reply("dup-1").await;
    assert_eq!(first, second);
    let jobs = w.running.gateway.jobs(Default::default()).await.unwrap();
    assert_eq!(jobs.len(), 1, "the repeated command submitted nothing new");
    w.running.stop().await;
}

#[tokio::test]
async fn bad_commands_get_error_replies_and_the_link_stays_up() {
    let mut w = world(MqttVersion::V5).await;
    w.cloud
        .raw_command("state.get", b"{not json".to_vec())
        .await;
    let reply = w
        .cloud
        .next("a malformed reply", |s| s.topic == topic("reply"))
        .await
        .payload;
    assert_eq!(
        (reply["ok"].clone(), reply["error"]["code"].clone()),
        (json!(false), json!("malformed"))
    );
    assert_eq!(reply["id"], Value::Null);

    w.cloud
        .command("state.get", json!({"v": 2, "id": "v2"}), None)
        .await;
    assert_eq!(
        w.cloud.reply("v2").await["error"]["code"],
        "unsupported_version"
    );

    let big = json!({"v": 1, "id": "big", "args": {"pad": "x".repeat(100_000)}});
    w.cloud
        .raw_command("state.get", big.to_string().into_bytes())
        .await;
    let reply = w
        .cloud
        .next("the oversized reply", |s| {
            s.topic == topic("reply") && s.payload["error"]["code"] == "too_large"
        })
        .await;
    assert_eq!(reply.payload["ok"], false);

    w.cloud
        .command("job.cancel", cmd("no-args", json!({})), None)
        .await;
    assert_eq!(w.cloud.reply("no-args").await["error"]["code"], "invalid");
    w.cloud
        .command("estimate", cmd("est", json!({})), None)
        .await;
    let est = w.cloud.reply("est").await;
    assert_eq!(
        est["error"]["code"], "invalid",
        "an estimate needs a file: {est}"
    );
    assert!(
        est["error"]["message"].as_str().unwrap().contains("file"),
        "{est}"
    );

    // Still connected, still answering.
    w.cloud
        .command("state.get", cmd("after", json!({})), None)
        .await;
    let state = w.cloud.reply("after").await;
    assert_eq!(state["result"]["printers"][0]["id"], "mk3s");
    let link = w.running.cloud.as_ref().unwrap().state.borrow().clone();
    assert!(
        matches!(link, LinkState::Connected { epoch: 1, .. }),
        "{link:?}"
    );
    w.running.stop().await;
}

#[tokio::test]
async fn the_link_speaks_mqtt_3_1_1_and_publishes_the_retained_state() {
    let mut w = world(MqttVersion::V4).await;
    let state = w
        .cloud
        .next("the retained state", |s| s.topic == topic("state"))
        .await;
    assert_eq!(state.payload["online"], true);
    assert_eq!(state.payload["printers"][0]["id"], "mk3s");
    w.cloud
        .command("state.get", cmd("v4-state", json!({})), None)
        .await;
    assert_eq!(w.cloud.reply("v4-state").await["ok"], true);
    w.running.stop().await;
    let offline = w
        .cloud
        .next("the offline state", |s| {
            s.topic == topic("state") && s.payload["online"] == false
        })
        .await;
    assert_eq!(offline.payload, json!({"v": 1, "online": false}));
}

#[tokio::test]
async fn replay_resends_from_a_seq_and_ack_empties_the_outbox_up_to_it() {
    let mut w = world(MqttVersion::V5).await;
    let end = w.drivers.take("mk3s");
    report(&end, DriverReport::Connected).await;
    report(
        &end,
        DriverReport::Disconnected {
            reason: "unplugged".into(),
        },
    )
    .await;
    report(&end, DriverReport::Connected).await;
    let mut last = 0;
    while last < 3 {
        last = w
            .cloud
            .next("events", |s| s.topic == topic("events"))
            .await
            .payload["seq"]
            .as_u64()
            .unwrap();
    }
    w.cloud
        .command("events.replay", cmd("r-1", json!({"from": 2})), None)
        .await;
    let reply = w.cloud.reply("r-1").await;
    assert_eq!(reply["result"]["from"], 2);
    let again = w
        .cloud
        .next("the replayed event 2", |s| {
            s.topic == topic("events") && s.payload["seq"] == 2
        })
        .await;
    assert_eq!(again.payload["type"], "printer:state");

    w.cloud
        .command("events.ack", cmd("a-1", json!({"seq": 2})), None)
        .await;
    assert_eq!(w.cloud.reply("a-1").await["result"]["removed"], 2);
    let left = w.running.gateway.outbox_range().await.unwrap().first;
    assert_eq!(left, Some(3));
    w.running.stop().await;
}

#[tokio::test]
async fn estimate_fetches_the_file_and_answers_what_the_lan_route_answers_storing_nothing() {
    let mut w = world(MqttVersion::V5).await;
    let part = b"G28\nG90\nM83\nG1 Z0.2 F600\nG1 X10 Y10 F3000\nG1 X60 Y10 E100.0 F1200\nG1 X60 Y60 E100.0\n";
    let file = FileServer::start(&w.pki, "square.gcode", part.to_vec()).await;
    let args = json!({"file": {"name": "square.gcode", "url": file.url, "sha256": file.sha256},
        "material": "PETG", "quality": "fine"});
    w.cloud.command("estimate", cmd("e-1", args), None).await;
    let reply = w.cloud.reply("e-1").await;
    assert_eq!(reply["ok"], true, "{reply}");

    // The LAN's POST /api/estimate runs the same two steps on the same bytes.
    let local = tempfile::tempdir().unwrap();
    let path = local.path().join("square.gcode");
    std::fs::write(&path, part).unwrap();
    let volumes = [*w.running.gateway.printers()[0].build_volume()];
    let expected = estimate::for_printers(
        &path,
        FileKind::GcodeText,
        None,
        "PETG",
        Quality::Fine,
        &volumes,
    )
    .unwrap();
    assert_eq!(
        reply["result"],
        json!(EstimateJson::new(expected, &volumes))
    );
    assert!(reply["result"]["estimated_time"].as_u64().unwrap() > 0);

    let bad = json!({"file": {"name": "square.gcode", "url": file.url, "sha256": "0".repeat(64)}});
    w.cloud.command("estimate", cmd("e-2", bad), None).await;
    let reply = w.cloud.reply("e-2").await;
    assert_eq!(
        (reply["ok"].clone(), reply["error"]["code"].clone()),
        (json!(false), json!("fetch_failed")),
        "{reply}"
    );
    // Downloads land in <state_dir>/files (created when the link starts).
    let files = w._dir.path().join("files");
    let left: Vec<_> = std::fs::read_dir(&files)
        .expect("the download directory exists")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "an estimate stores nothing: {left:?}");
    w.running.stop().await;
}
