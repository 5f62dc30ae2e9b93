//! The MQTT session logic that needs no socket: which event `seq` the broker has
//! acknowledged, and how long to wait before the next connection attempt.
//!
//! rumqttc reports an outgoing QoS 1 publish only by packet id (`Outgoing::Publish(pkid)`)
//! and its acknowledgement by the same id. [`AckTracker`] ties packet ids back to what was
//! published: every QoS 1 publish is handed to rumqttc together with a [`Tag`] under one
//! lock, rumqttc sends its requests in that order, so the n-th fresh packet id belongs to
//! the n-th tag. A packet id already mapped is a retransmission after a resumed session.
//! MQTT has the broker acknowledge QoS 1 publishes in the order it received them, so when
//! the tracker errs at all (a session the broker lost, see `session_lost`) it errs towards
//! an older `seq`: the gateway may resend an event, it never skips one.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand::Rng;

/// What a QoS 1 publish carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// The event with this `seq`.
    Event(u64),
    /// A reply or the retained state.
    Other,
    /// Unknown after the broker lost the session (never advances the acknowledged `seq`).
    Unknown,
}

/// Maps packet ids to tags and keeps the highest contiguously acknowledged event `seq`.
#[derive(Debug, Default)]
pub struct AckTracker {
    /// Tags of publishes handed to rumqttc and not yet sent, in order.
    submitted: VecDeque<Tag>,
    /// Sent and not yet acknowledged, by packet id.
    sent: HashMap<u16, Tag>,
    /// The highest event `seq` the broker acknowledged.
    acked: u64,
    /// Event publishes submitted or sent and not acknowledged (the publisher's window).
    events_in_flight: usize,
}

impl AckTracker {
    /// A tracker resuming after `acked` (the value kept in the store).
    pub fn new(acked: u64) -> AckTracker {
        AckTracker {
            acked,
            ..AckTracker::default()
        }
    }

    /// A QoS 1 publish with `tag` was handed to rumqttc.
    pub fn submitted(&mut self, tag: Tag) {
        if matches!(tag, Tag::Event(_)) {
            self.events_in_flight += 1;
        }
        self.submitted.push_back(tag);
    }

    /// rumqttc wrote a publish with this packet id (0 = QoS 0, not tracked).
    pub fn sent(&mut self, pkid: u16) {
        if pkid == 0 || self.sent.contains_key(&pkid) {
            return;
        }
        let tag = self.submitted.pop_front().unwrap_or(Tag::Unknown);
        self.sent.insert(pkid, tag);
    }

    /// The broker acknowledged `pkid`; returns the new acknowledged `seq` when it grew.
    pub fn acked(&mut self, pkid: u16) -> Option<u64> {
        match self.sent.remove(&pkid)? {
            Tag::Event(seq) => {
                self.events_in_flight = self.events_in_flight.saturating_sub(1);
                (seq > self.acked).then(|| {
                    self.acked = seq;
                    seq
                })
            }
            Tag::Other | Tag::Unknown => None,
        }
    }

    /// The broker started a fresh session: nothing unacknowledged will be retransmitted,
    /// and publishes queued inside rumqttc when the connection dropped are gone, except any
    /// that raced in after rumqttc's clean-up — so every tag still waiting becomes unknown.
    pub fn session_lost(&mut self) {
        self.sent.clear();
        for tag in &mut self.submitted {
            *tag = Tag::Unknown;
        }
        self.events_in_flight = 0;
    }

    pub fn acked_seq(&self) -> u64 {
        self.acked
    }

    pub fn events_in_flight(&self) -> usize {
        self.events_in_flight
    }

    /// Whether a QoS 1 publish with `tag` may join rumqttc's queue now: at most `total`
    /// waiting, of them at most `events` events, so a reply overtakes an event backlog.
    pub fn has_room(&self, tag: Tag, total: usize, events: usize) -> bool {
        let waiting = self.submitted.len();
        match tag {
            Tag::Event(_) => {
                waiting < total
                    && self
                        .submitted
                        .iter()
                        .filter(|t| matches!(t, Tag::Event(_)))
                        .count()
                        < events
            }
            Tag::Other | Tag::Unknown => waiting < total,
        }
    }
}

/// Reconnect delays: exponential, capped, with full jitter (a uniformly random wait up to
/// the current ceiling) so a fleet that lost its broker does not come back in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The ceiling for the current attempt.
    pub fn ceiling(&self) -> Duration {
        let factor = 1_u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before the next attempt, in `0..=ceiling`; the ceiling then doubles.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=millis))
    }

    /// A connection was made: start again from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn events_leave_room_in_the_queue_for_replies() {
        let mut tracker = AckTracker::new(0);
        for seq in 1..=4 {
            assert!(tracker.has_room(Tag::Event(seq), 10, 4));
            tracker.submitted(Tag::Event(seq));
        }
        assert!(!tracker.has_room(Tag::Event(5), 10, 4));
        assert!(tracker.has_room(Tag::Other, 10, 4));
        tracker.sent(1);
        assert!(tracker.has_room(Tag::Event(5), 10, 4));
        for _ in 0..7 {
            tracker.submitted(Tag::Other);
        }
        assert!(!tracker.has_room(Tag::Other, 10, 4));
        assert!(!tracker.has_room(Tag::Event(5), 10, 4));
    }

    #[test]
    fn fresh_packet_ids_take_tags_in_submission_order() {
        let mut t = AckTracker::new(0);
        t.submitted(Tag::Event(1));
        t.submitted(Tag::Other);
        t.submitted(Tag::Event(2));
        t.sent(1);
        t.sent(2);
        t.sent(3);
        assert_eq!(t.acked(1), Some(1));
        assert_eq!(t.acked(2), None);
        assert_eq!(t.acked(3), Some(2));
        assert_eq!(t.acked_seq(), 2);
        assert_eq!(t.events_in_flight(), 0);
    }

    #[test]
    fn a_retransmitted_packet_id_keeps_its_tag() {
        let mut t = AckTracker::new(0);
        t.submitted(Tag::Event(5));
        t.sent(7);
        t.submitted(Tag::Event(6));
        t.sent(7); // retransmission after a resumed session
        t.sent(8);
        assert_eq!(t.acked(7), Some(5));
        assert_eq!(t.acked(8), Some(6));
    }

    #[test]
    fn a_lost_session_never_advances_the_acknowledged_seq_by_a_stale_tag() {
        let mut t = AckTracker::new(3);
        t.submitted(Tag::Event(4));
        t.submitted(Tag::Event(5));
        t.sent(1);
        t.session_lost();
        t.submitted(Tag::Event(4));
        t.sent(2); // the stale request for 5 raced in after rumqttc's clean-up
        assert_eq!(t.acked(1), None);
        assert_eq!(t.acked(2), None);
        assert_eq!(t.acked_seq(), 3);
    }

    #[test]
    fn backoff_stays_under_a_doubling_ceiling_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut rng = rand::rng();
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            let ceiling = b.ceiling();
            assert!(b.next_delay(&mut rng) <= ceiling);
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    proptest! {
        /// Against a reference model: with in-order acknowledgements (what MQTT requires of
        /// the broker) the tracker reports exactly the newest acknowledged event.
        #[test]
        fn in_order_acks_report_the_newest_acknowledged_event(kinds in proptest::collection::vec(any::<bool>(), 1..60), acks in 0usize..60) {
            let mut t = AckTracker::new(0);
            let mut seq = 0;
            let mut tags = Vec::new();
            for (i, is_event) in kinds.iter().enumerate() {
                let tag = if *is_event { seq += 1; Tag::Event(seq) } else { Tag::Other };
                t.submitted(tag);
                t.sent(i as u16 + 1);
                tags.push(tag);
            }
            let acks = acks.min(kinds.len());
            for pkid in 1..=acks {
                t.acked(pkid as u16);
            }
            let expected = tags[..acks].iter().filter_map(|t| match t { Tag::Event(s) => Some(*s), _ => None }).max().unwrap_or(0);
            prop_assert_eq!(t.acked_seq(), expected);
        }
    }
}
