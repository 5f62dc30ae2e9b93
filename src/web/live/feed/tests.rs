//! The shared feed against a real job store (no printers): one encoding per event for every
//! client, slow clients dropped without holding up the others, and the feed's lifetime.

use super::*;
use crate::gateway::testing::StandaloneGateway;

struct Rig {
    gateway: Gateway,
    standalone: StandaloneGateway,
    slot: FeedSlot,
}

fn rig() -> Rig {
    let standalone = StandaloneGateway::without_printers();
    Rig {
        gateway: standalone.gateway.clone(),
        standalone,
        slot: FeedSlot::default(),
    }
}

impl Rig {
    async fn join(&self, queue: usize) -> (mpsc::Receiver<Frame>, CancellationToken) {
        let (sender, frames) = mpsc::channel(queue);
        let slow = CancellationToken::new();
        let client = Client {
            queue: sender,
            slow: slow.clone(),
        };
        self.slot
            .join(&self.gateway, "gw", None, client)
            .await
            .unwrap();
        (frames, slow)
    }

    /// Queues `n` jobs in one transaction: `n` `job:queued` events.
    async fn queue_jobs(&self, n: usize) {
        self.standalone.queue_in_one_commit(n).await;
    }
}

fn seq_of(frame: &Frame) -> u64 {
    let json: serde_json::Value = serde_json::from_str(frame.text()).unwrap();
    assert_eq!(json["type"], "event", "{json}");
    json["event"]["seq"].as_u64().unwrap()
}

#[tokio::test]
async fn every_client_is_handed_the_same_encoded_bytes_of_an_event() {
    let rig = rig();
    let (mut a, _) = rig.join(8).await;
    let (mut b, _) = rig.join(8).await;
    rig.queue_jobs(1).await;
    let (a, b) = (a.recv().await.unwrap(), b.recv().await.unwrap());
    assert_eq!(a.text(), b.text());
    assert!(a.text().contains("\"type\":\"job:queued\""), "{}", a.text());
    // One buffer shared by both clients: the event was encoded once.
    assert_eq!(a.text().as_ptr(), b.text().as_ptr());
}

#[tokio::test]
async fn a_client_with_a_full_queue_is_dropped_and_the_others_get_every_event() {
    let rig = rig();
    let (mut slow_frames, slow) = rig.join(2).await;
    let (mut fast, fast_slow) = rig.join(16).await;
    rig.queue_jobs(5).await;
    let first = seq_of(&fast.recv().await.unwrap());
    for expected in first + 1..first + 5 {
        assert_eq!(seq_of(&fast.recv().await.unwrap()), expected);
    }
    slow.cancelled().await;
    assert!(!fast_slow.is_cancelled());
    // The two frames that fitted, then nothing more: the feed let go of the queue.
    assert!(slow_frames.recv().await.is_some());
    assert!(slow_frames.recv().await.is_some());
    assert!(slow_frames.recv().await.is_none());
}

#[tokio::test]
async fn the_feed_stops_after_its_last_client_and_the_next_client_starts_another() {
    let rig = rig();
    let (frames, _) = rig.join(8).await;
    let first = rig.slot.lock().clone().unwrap();
    drop(frames);
    rig.slot.left();
    first.closed().await;

    let (mut frames, _) = rig.join(8).await;
    let second = rig.slot.lock().clone().unwrap();
    assert!(!second.same_channel(&first));
    rig.queue_jobs(1).await;
    seq_of(&frames.recv().await.unwrap());
}

#[test]
fn an_event_frame_is_covered_by_a_snapshot_at_or_after_its_seq() {
    let event = Event {
        seq: 7,
        at: time::OffsetDateTime::UNIX_EPOCH,
        kind: crate::events::EventKind::EventsDropped { first: 1, last: 2 },
    };
    let frame = Frame::event(&event);
    assert!(frame.covered_by(7));
    assert!(frame.covered_by(8));
    assert!(!frame.covered_by(6));
    let status = PrinterStatus {
        id: crate::domain::PrinterId("mk3s".into()),
        state: crate::domain::PrinterState::Idle,
        temperatures: Default::default(),
        current: None,
        accuracy: Default::default(),
        external: None,
    };
    let printer = PrinterJson::from(&status);
    assert!(!Frame::printer(&printer).covered_by(u64::MAX));
}
