//! Many clients on one gateway: each gets the same bytes for the same event, and a client
//! that does not read is dropped while the others keep receiving every event.

use std::net::SocketAddr;

use fluxprint_gateway::jobs::NewJob;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::common::PATIENCE;
use super::scrape::{http_get, parse, sample};
use super::{Client, KEY, connect, events_until, hand_rig, next_text, snapshot_seq, ws_url};

/// The raw text of the next event frame (other frames skipped).
async fn next_event_text(client: &mut Client) -> String {
    loop {
        let text = next_text(client).await;
        if text.starts_with("{\"type\":\"event\"") {
            return text;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_receive_byte_identical_frames_for_the_same_events() {
    let (rig, _end) = hand_rig(false).await;
    let mut a = connect(rig.addr).await;
    let seq_a = snapshot_seq(&mut a).await;
    let mut b = connect(rig.addr).await;
    let seq_b = snapshot_seq(&mut b).await;
    assert_eq!(seq_a, seq_b);
    // Three events in one commit, which no door can make: the wiring's raw store.
    rig.running
        .store()
        .call(|db| {
            db.write(|w| {
                for name in ["one.gcode", "two.gcode", "three.gcode"] {
                    w.insert_job(NewJob {
                        file_name: name.into(),
                        ..NewJob::default()
                    })?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    for n in 1..=3 {
        let (text_a, text_b) = (next_event_text(&mut a).await, next_event_text(&mut b).await);
        assert_eq!(text_a, text_b);
        let json: Value = serde_json::from_str(&text_a).unwrap();
        assert_eq!(json["event"]["seq"], seq_a + n, "{json}");
        assert_eq!(json["event"]["type"], "job:queued", "{json}");
    }
}

/// Connects with a tiny receive buffer and never reads: the server's writes stall at once.
async fn connect_without_reading(addr: SocketAddr) -> WebSocketStream<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    tokio_tungstenite::client_async(ws_url(addr), tcp)
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_dropped_while_others_keep_receiving() {
    // 8,000 events of ~2 KB: far more than the socket buffers between a stalled client and
    // the server can hold (Linux caps a socket's send buffer at 4 MB by default).
    const JOBS: u64 = 8_000;
    const PER_COMMIT: u64 = 40;
    let padding = "x".repeat(2_000);
    let (rig, _end) = hand_rig(false).await;
    let mut normal = connect(rig.addr).await;
    let first = snapshot_seq(&mut normal).await;
    let mut slow = connect_without_reading(rig.addr).await;
    let last = first + JOBS;
    // The reading client says how far it got, so the flood never runs more than two commits
    // ahead of it: on a loaded machine an unpaced flood overflows its queue too.
    let (progress, mut seen) = tokio::sync::watch::channel(first);
    let reader = tokio::spawn(async move {
        let mut seq = first;
        events_until(&mut normal, &mut seq, |e| {
            progress.send_replace(e["seq"].as_u64().unwrap());
            e["seq"] == last
        })
        .await;
    });
    // Each job queued is one `job:queued` event: a flood of small commits.
    for batch in 0..JOBS / PER_COMMIT {
        let caught_up = first + batch.saturating_sub(1) * PER_COMMIT;
        tokio::time::timeout(PATIENCE, seen.wait_for(|seq| *seq >= caught_up))
            .await
            .expect("the reading client fell behind")
            .unwrap();
        let padding = padding.clone();
        // Many events per commit, which no door can make: the wiring's raw store.
        rig.running
            .store()
            .call(move |db| {
                db.write(|w| {
                    for i in 0..PER_COMMIT {
                        let file_name = format!("flood-{batch}-{i}-{padding}.gcode");
                        w.insert_job(NewJob {
                            file_name,
                            ..NewJob::default()
                        })?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
    tokio::time::timeout(PATIENCE, reader)
        .await
        .expect("the reading client fell behind")
        .unwrap();

    let (mut events, mut close_code) = (0u64, None);
    while let Some(message) = tokio::time::timeout(PATIENCE, slow.next()).await.unwrap() {
        match message {
            Ok(Message::Text(text)) => {
                let json: Value = serde_json::from_str(&text).unwrap();
                assert_ne!(json["event"]["seq"], last, "the slow client got everything");
                events += u64::from(json["type"] == "event");
            }
            Ok(Message::Close(frame)) => close_code = frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            // Cut off after the close grace: the stream ends without a close frame.
            Err(_) => break,
        }
    }
    assert!(events < JOBS, "the slow client was not dropped");
    assert!(matches!(close_code, None | Some(1013)), "{close_code:?}");
    let (_, metrics) = http_get(rig.addr, "/metrics", Some(KEY)).await;
    assert_eq!(
        sample(&parse(&metrics), "fluxprint_ws_clients_dropped_total", &[]),
        1.0
    );
}
