//! Session tests for stalls: a line whose `ok` will not come is settled in seconds by the
//! firmware's line check, never by running a line twice or skipping one.

use super::harness::{Harness, wire};
use super::*;

fn stalls(h: &Harness) -> Vec<(u32, StallCause)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Stalled { line, cause, .. } => Some((*line, *cause)),
            _ => None,
        })
        .collect()
}

fn resynced(h: &Harness) -> Vec<u64> {
    h.events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Resynced { stalled_ms } => Some(*stalled_ms),
            _ => None,
        })
        .collect()
}

/// Marlin's answer to a copy of a line it already has.
fn already_have(last: u32) -> String {
    format!(
        "Error:Line Number is not Last Line Number+1, Last Line: {last}\nResend: {}\nok",
        last + 1
    )
}

#[test]
fn a_lost_ok_with_known_keepalives_is_settled_after_an_interval_and_a_quarter() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("M113 S1");
    h.feed("ok");
    h.push("G1 X1");
    h.push("G1 X2");
    // The firmware ran line 2 but its `ok` was lost.
    h.advance(1_499);
    assert!(stalls(&h).is_empty());
    h.advance(1);
    assert_eq!(stalls(&h), vec![(2, StallCause::Silence)]);
    assert_eq!(h.writes[1..], [wire(2, "G1 X1"), wire(2, "G1 X1")]);
    h.feed(&already_have(2));
    assert_eq!(
        h.writes.last(),
        Some(&wire(3, "G1 X2")),
        "no wait for quiet"
    );
    h.feed("ok");
    assert_eq!(
        h.acked(),
        vec![1, 2, 3],
        "each line reported once, in order"
    );
    assert_eq!(resynced(&h), vec![1_500]);
    assert!(h.session.is_idle());
}

#[test]
fn a_lost_ok_without_keepalives_is_settled_in_seconds_for_a_short_command() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G1 X1");
    h.advance(4_999);
    assert!(stalls(&h).is_empty());
    h.advance(1);
    assert_eq!(stalls(&h), vec![(1, StallCause::Silence)]);
    h.feed(&already_have(1));
    assert_eq!(h.acked(), vec![1]);
    assert_eq!(h.writes.len(), 2, "nothing left to send");
    assert!(h.session.is_idle());
}

#[test]
fn a_swallowed_line_is_taken_when_written_again() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G1 X1");
    h.advance(5_000);
    h.feed("ok");
    assert_eq!(h.writes, vec![wire(1, "G1 X1"); 2]);
    assert_eq!(h.acked(), vec![1]);
    assert_eq!(resynced(&h), vec![5_000]);
}

#[test]
fn wait_ends_a_stall_at_once_but_not_one_that_crossed_the_write() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G28");
    h.feed("wait");
    assert!(stalls(&h).is_empty(), "sent before the line arrived");
    h.advance(1_000);
    h.feed("wait");
    assert_eq!(stalls(&h), vec![(1, StallCause::Wait)]);
    assert_eq!(h.writes, vec![wire(1, "G28"); 2]);
    h.feed(&already_have(1));
    assert_eq!(h.acked(), vec![1]);
}

#[test]
fn an_error_without_resend_is_settled_after_a_short_quiet() {
    // OctoPrint's virtual printer: a missing line number gets an `Error:` and nothing else.
    let mut h = Harness::connected(SessionConfig::default());
    h.advance_numbering_to(110);
    h.push("G1 X1");
    h.feed("Error:No Line Number with checksum, Last Line: 109");
    h.advance(49);
    assert_eq!(h.writes.len(), 1);
    h.advance(1);
    assert_eq!(stalls(&h), vec![(110, StallCause::Complaint)]);
    h.feed("ok");
    assert_eq!(h.acked(), vec![110]);
}

#[test]
fn a_long_heat_up_with_keepalives_and_progress_lines_never_stalls() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("M109 S215");
    for second in 1..=300 {
        h.advance(1_000);
        h.feed("T:150.0 /215.0 B:60.0 /60.0 @:127 B@:0 W:?");
        if second % 2 == 0 {
            h.feed("echo:busy: processing");
        }
    }
    h.feed("ok");
    assert!(stalls(&h).is_empty());
    assert_eq!(h.writes.len(), 1);
    assert_eq!(h.acked(), vec![1]);
}

#[test]
fn without_keepalives_only_a_long_command_waits_the_long_timeout() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G29");
    h.advance(29_999);
    assert!(stalls(&h).is_empty());
    h.feed("T:25.0 /0.0 B:25.0 /0.0 @:0 B@:0");
    h.advance(1);
    assert_eq!(
        stalls(&h),
        vec![(1, StallCause::Silence)],
        "auto-reports are no keepalive"
    );
}

#[test]
fn an_unanswered_probe_waits_the_long_timeout_before_asking_again() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut h = Harness::connected(config);
    for cmd in ["G1 X1", "G1 X2", "G1 X3"] {
        h.push(cmd);
    }
    h.advance(5_000);
    assert_eq!(h.writes.len(), 4);
    h.advance(29_999);
    assert_eq!(h.writes.len(), 4);
    h.advance(1);
    assert_eq!(h.writes[3..], [wire(1, "G1 X1"), wire(1, "G1 X1")]);
    assert_eq!(stalls(&h).len(), 1, "one stall, probed twice");
    // The firmware had all three: the answer confirms them, reported once each.
    h.feed(&already_have(3));
    assert_eq!(h.acked(), vec![1, 2, 3]);
    assert!(h.session.is_idle());
}

#[test]
fn a_resent_line_the_firmware_swallows_is_probed_after_a_tenth_of_a_second() {
    // OctoPrint's virtual printer, `resend_with_timeout`: it asks for line 105, swallows the
    // copy yet counts it, and says nothing until its `wait` a second later.
    let mut h = Harness::connected(SessionConfig::default());
    h.advance_numbering_to(105);
    h.push("G1 X1");
    h.push("G1 X2");
    h.feed("Error:Missing checksum\nResend:105\nok");
    assert_eq!(h.writes, vec![wire(105, "G1 X1"); 2]);
    h.advance(99);
    assert!(stalls(&h).is_empty());
    h.advance(1);
    assert_eq!(stalls(&h), vec![(105, StallCause::Silence)]);
    h.feed("Error:expected line 106 got 105\nResend:106\nok");
    assert_eq!(h.writes.last(), Some(&wire(106, "G1 X2")));
    h.feed("ok");
    assert_eq!(h.acked(), vec![105, 106]);
}

#[test]
fn windowed_streaming_comes_back_after_enough_clean_lines() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut h = Harness::connected(config);
    h.advance_numbering_to(10);
    h.push("G1 X1");
    h.feed("Error:checksum mismatch, Last Line: 9\nResend: 10\nok");
    h.feed("ok");
    assert_eq!(h.session.flow_control(), FlowControl::PingPong);
    for _ in 0..254 {
        h.push("G1 X2");
        h.feed("ok");
    }
    assert_eq!(h.session.flow_control(), FlowControl::PingPong);
    h.push("G1 X3");
    h.feed("ok");
    assert_eq!(h.session.flow_control(), FlowControl::MARLIN_WINDOW);
    assert!(h.events.contains(&SessionEvent::FlowControlRestored {
        to: FlowControl::MARLIN_WINDOW
    }));
    h.clear();
    for _ in 0..3 {
        h.push("G1 X4");
    }
    assert_eq!(h.writes.len(), 3, "three lines in flight again");
}
