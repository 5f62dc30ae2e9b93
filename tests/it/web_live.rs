//! The live LAN routes against a real gateway (hand-driven printer, or the simulator over a
//! pty) and a real server on 127.0.0.1:0: the WebSocket's snapshot, events and printer
//! status, auth, and `/metrics`; `fanout`: many clients, one encoding, slow ones dropped.

use crate::common;
mod fanout;
pub(crate) mod scrape;

use std::net::SocketAddr;
use std::sync::Arc;

use common::sim::SimDrivers;
use common::*;
use fluxprint_gateway::app::{self, Running};
use fluxprint_gateway::config::{DriverConfig, PrinterConfig, Secret};
use fluxprint_gateway::domain::{JobStatus, Percent, Temperature, Temperatures};
use fluxprint_gateway::printer::driver::{DriverEnd, DriverFactory, DriverReport};
use fluxprint_gateway::printer::sim::SimConfig;
use fluxprint_gateway::web::{self, WebState};
use futures_util::StreamExt;
use scrape::{http_get, parse, sample};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

const KEY: &str = "test-key-0123456789";

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Rig {
    dir: tempfile::TempDir,
    running: Running,
    addr: SocketAddr,
}

async fn rig(drivers: Arc<dyn DriverFactory>, printers: Vec<PrinterConfig>, public: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), printers);
    config.web.public_status = public;
    let running = app::start(config.clone(), drivers, CancellationToken::new())
        .await
        .unwrap();
    let state = Arc::new(WebState::new(
        running.gateway.clone(),
        &config,
        Secret::new(KEY),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, web::router(state)).await });
    Rig { dir, running, addr }
}

/// A gateway with one hand-driven printer `mk3s`, and that printer's driver end.
async fn hand_rig(public: bool) -> (Rig, DriverEnd) {
    let drivers = HandDrivers::default();
    let printers = vec![printer("mk3s", [250.0, 210.0, 210.0], false)];
    let rig = rig(Arc::new(drivers.clone()), printers, public).await;
    (rig, drivers.take("mk3s"))
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/api/ws?api_key={KEY}")
}

async fn connect(addr: SocketAddr) -> Client {
    tokio_tungstenite::connect_async(ws_url(addr))
        .await
        .unwrap()
        .0
}

/// The next text message (pings and pongs skipped).
async fn next_text(client: &mut Client) -> String {
    loop {
        let message = tokio::time::timeout(PATIENCE, client.next())
            .await
            .expect("the server sent nothing")
            .expect("the server closed the socket")
            .expect("socket error");
        if let Message::Text(text) = message {
            return text.as_str().to_owned();
        }
    }
}

/// The next text message as JSON (pings and pongs skipped).
async fn next_json(client: &mut Client) -> Value {
    serde_json::from_str(&next_text(client).await).unwrap()
}

/// Reads until an event satisfies `done`; checks every event continues the `seq` run.
async fn events_until(client: &mut Client, seq: &mut u64, done: impl Fn(&Value) -> bool) {
    loop {
        let message = next_json(client).await;
        if message["type"] != "event" {
            continue;
        }
        let event = &message["event"];
        assert_eq!(event["seq"], *seq + 1, "events must be contiguous: {event}");
        *seq += 1;
        if done(event) {
            return;
        }
    }
}

async fn snapshot_seq(client: &mut Client) -> u64 {
    let snapshot = next_json(client).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["gateway"]["id"], "gw-test");
    snapshot["seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_a_snapshot_then_every_event_in_seq_order() {
    let (rig, mut end) = hand_rig(false).await;
    let gw = &rig.running.gateway;
    let mut client = connect(rig.addr).await;
    let snapshot = next_json(&mut client).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["printers"][0]["id"], "mk3s");
    assert_eq!(snapshot["queue"], serde_json::json!([]));
    let mut seq = snapshot["seq"].as_u64().unwrap();

    report(&end, DriverReport::Connected).await;
    let id = gw
        .submit(job_with_file(gw, rig.dir.path(), "part").await)
        .await
        .unwrap()
        .id;
    assert_eq!(started_job(next_command(&mut end).await), id);
    let progress = Percent::new(40);
    report(&end, DriverReport::Progress { job: id, progress }).await;

    events_until(&mut client, &mut seq, |e| {
        e["type"] == "print:status-update" && e["progress"] == 40 && e["gateway_job"] == id.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temperatures_report_reaches_the_client_as_a_printer_message() {
    let (rig, end) = hand_rig(false).await;
    let mut client = connect(rig.addr).await;
    snapshot_seq(&mut client).await;
    let heater = |actual_c, target| Temperature {
        actual_c,
        target_c: Some(target),
    };
    let temperatures = Temperatures {
        hotends: vec![heater(201.5, 210.0)],
        bed: Some(heater(59.0, 60.0)),
    };
    report(&end, DriverReport::Temperatures(temperatures)).await;
    loop {
        let message = next_json(&mut client).await;
        if message["type"] == "printer" && message["printer"]["temperatures"]["bed"] != Value::Null
        {
            let t = &message["printer"]["temperatures"];
            assert_eq!(message["printer"]["id"], "mk3s");
            assert_eq!(
                t["hotends"][0],
                serde_json::json!({"actual": 201.5, "target": 210.0})
            );
            assert_eq!(
                t["bed"],
                serde_json::json!({"actual": 59.0, "target": 60.0})
            );
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_needs_the_key_unless_status_is_public() {
    let (rig, _end) = hand_rig(false).await;
    let bare = format!("ws://{}/api/ws", rig.addr);
    let wrong = format!("ws://{}/api/ws?api_key=nope", rig.addr);
    for url in [bare.clone(), wrong] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected 401, got {:?}", other.map(|(_, r)| r.status())),
        }
    }
    let mut by_query = connect(rig.addr).await;
    snapshot_seq(&mut by_query).await;
    use tungstenite::client::IntoClientRequest;
    let mut request = bare.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", KEY.parse().unwrap());
    let (mut by_header, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    snapshot_seq(&mut by_header).await;
    assert_eq!(http_get(rig.addr, "/metrics", None).await.0, 401);

    let (open, _end) = hand_rig(true).await;
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", open.addr))
        .await
        .unwrap();
    snapshot_seq(&mut client).await;
    assert_eq!(http_get(open.addr, "/metrics", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_printer_and_the_queue() {
    let (rig, mut end) = hand_rig(false).await;
    let gw = &rig.running.gateway;
    let scrape = || async { parse(&http_get(rig.addr, "/metrics", Some(KEY)).await.1) };
    let mk3s = [("printer", "mk3s")];
    let before = scrape().await;
    let state = |s| [("printer", "mk3s"), ("state", s)];
    assert_eq!(
        sample(&before, "fluxprint_printer_state", &state("disconnected")),
        1.0
    );
    assert_eq!(
        sample(&before, "fluxprint_jobs", &[("status", "printing")]),
        0.0
    );
    assert_eq!(sample(&before, "fluxprint_cloud_link_state", &[]), 0.0);
    assert!(sample(&before, "fluxprint_process_resident_memory_bytes", &[]) > 0.0);

    report(&end, DriverReport::Connected).await;
    let id = gw
        .submit(job_with_file(gw, rig.dir.path(), "part").await)
        .await
        .unwrap()
        .id;
    started_job(next_command(&mut end).await);
    report(
        &end,
        DriverReport::Progress {
            job: id,
            progress: Percent::new(40),
        },
    )
    .await;
    let hot = Temperature {
        actual_c: 215.0,
        target_c: Some(215.0),
    };
    let temperatures = Temperatures {
        hotends: vec![hot],
        bed: None,
    };
    report(&end, DriverReport::Temperatures(temperatures)).await;
    wait_status(gw.printers()[0].watch(), "hot and at 40 %", |s| {
        s.temperatures.hotends.len() == 1 && s.current.is_some_and(|c| c.progress.get() == 40)
    })
    .await;

    let after = scrape().await;
    assert_eq!(
        sample(&after, "fluxprint_printer_state", &state("printing")),
        1.0
    );
    assert_eq!(
        sample(&after, "fluxprint_printer_state", &state("disconnected")),
        0.0
    );
    assert_eq!(
        sample(&after, "fluxprint_printer_progress_percent", &mk3s),
        40.0
    );
    assert_eq!(
        sample(&after, "fluxprint_jobs", &[("status", "printing")]),
        1.0
    );
    let hotend0 = [("heater", "hotend0"), ("printer", "mk3s")];
    assert_eq!(
        sample(&after, "fluxprint_printer_temperature_celsius", &hotend0),
        215.0
    );
    assert!(
        sample(&after, "fluxprint_outbox_events", &[])
            > sample(&before, "fluxprint_outbox_events", &[])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_serial_lines_of_a_simulated_print() {
    let dir = tempfile::tempdir().unwrap();
    let sims = SimDrivers::new(dir.path());
    let mut sim = printer("sim", [250.0, 210.0, 210.0], false);
    sim.driver = DriverConfig::Simulated(SimConfig {
        speed_up: 1000.0,
        line_latency_ms: 0,
        ..SimConfig::default()
    });
    let rig = rig(Arc::new(sims.clone()), vec![sim], false).await;
    let gw = &rig.running.gateway;
    let mut new = job_with_file(gw, rig.dir.path(), "part").await;
    let gcode: String = (0..200)
        .map(|i| format!("G1 X{} Y{}\n", i % 100, i % 50))
        .collect();
    std::fs::write(rig.dir.path().join("part.gcode"), gcode).unwrap();
    new.printer = None;
    let id = gw.submit(new).await.unwrap().id;
    let mut events = gw.subscribe();
    while gw.job(id).await.unwrap().status != JobStatus::Completed {
        let _ = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("the print stalled");
    }

    let text = http_get(rig.addr, "/metrics", Some(KEY)).await.1;
    let metrics = parse(&text);
    let printer = [("printer", "sim")];
    assert_eq!(
        sample(&metrics, "fluxprint_jobs", &[("status", "completed")]),
        1.0
    );
    let acked = sample(&metrics, "fluxprint_serial_lines_acked_total", &printer);
    assert!(acked >= 200.0, "{acked} lines acked");
    assert!(acked <= sims.stats("sim").snapshot().lines_acked as f64);
    assert!(sample(&metrics, "fluxprint_serial_lines_sent_total", &printer) >= acked);
    let timed = sample(
        &metrics,
        "fluxprint_serial_ok_latency_seconds_count",
        &printer,
    );
    assert!(timed >= 200.0, "{timed} oks timed");
    let inf = [("le", "+Inf"), ("printer", "sim")];
    assert_eq!(
        sample(&metrics, "fluxprint_serial_ok_latency_seconds_bucket", &inf),
        timed
    );
    assert_eq!(
        sample(&metrics, "fluxprint_serial_resend_requests_total", &printer),
        0.0
    );
    assert_eq!(
        sample(&metrics, "fluxprint_serial_flow_windowed", &printer),
        1.0
    );
    // A clean print stalls nowhere; the stall figures are there, at zero.
    assert_eq!(
        sample(&metrics, "fluxprint_serial_stalls_total", &printer),
        0.0
    );
    assert_eq!(
        sample(&metrics, "fluxprint_serial_stall_seconds_count", &printer),
        0.0
    );
}
