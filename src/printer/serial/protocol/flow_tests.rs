//! Session tests for keep-alives, timeouts, halts and flow control, from firmware transcripts.

use super::harness::{Harness, wire};
use super::*;

const THERMAL_RUNAWAY: &str = "\
 T:215.31 /215.00 B:60.02 /60.00 @:31 B@:12
Error:Thermal Runaway, system stopped! Heater_ID: 0
Error:Printer halted. kill() called!";

#[test]
fn m600_paused_for_user_keeps_the_line_alive_for_ten_minutes() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("M600");
    for second in 1..=600 {
        h.advance(1_000);
        if second % 2 == 0 {
            h.feed("echo:busy: paused for user");
        }
    }
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, SessionEvent::Timeout(_)))
    );
    assert_eq!(h.writes.len(), 1);
    h.feed("ok");
    assert_eq!(h.acked(), vec![1]);
}

#[test]
fn silence_without_busy_times_out_and_sends_the_line_again() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G28");
    h.feed("wait");
    h.advance(29_999);
    assert_eq!(h.writes.len(), 1);
    h.advance(1);
    assert!(
        h.events
            .contains(&SessionEvent::Timeout(TimeoutKind::Ok { line: 1 }))
    );
    assert_eq!(h.writes, vec![wire(1, "G28"); 2]);
}

#[test]
fn thermal_runaway_halts_the_session_with_one_fatal_event() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G1 X5");
    h.feed(THERMAL_RUNAWAY);
    let fatal: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Fatal(_)))
        .collect();
    assert_eq!(fatal.len(), 1);
    let SessionEvent::Fatal(error) = fatal[0] else {
        unreachable!()
    };
    assert_eq!(
        error.kind,
        FirmwareErrorKind::ThermalRunaway {
            heater: Some(Heater::Hotend(0))
        }
    );
    assert!(!h.session.wants_more());
    assert!(matches!(
        h.session.push_line("G1 X6", h.now),
        Err(SessionError::Halted(Halt::Firmware(_)))
    ));
    h.feed("ok");
    h.advance(60_000);
    assert_eq!(
        h.writes.len(),
        1,
        "a halted session writes nothing on its own"
    );
}

#[test]
fn emergency_stop_is_written_at_once_even_with_a_line_in_flight() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G28");
    assert!(!h.session.wants_more());
    let actions = h.session.send_now("M112");
    assert_eq!(actions, vec![Action::Write(b"M112\n".to_vec())]);
}

#[test]
fn board_reset_after_connect_is_reported_and_handshakes_again() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G28");
    h.feed("start");
    assert_eq!(h.events, vec![SessionEvent::PrinterReset]);
    assert_eq!(
        h.writes.last().map(String::as_str),
        Some("N0 M110 N0*125\n")
    );
    assert!(!h.session.is_ready());
    h.feed("ok");
    assert!(h.session.is_ready());
    assert_eq!(h.push("G28"), 1, "numbering starts over");
}

#[test]
fn windowed_mode_counts_characters_and_lines_in_flight() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut h = Harness::connected(config);
    let long = "G1 X100.123 Y100.456 Z0.3 E12.34567 F1800"; // 51 bytes on the wire
    while h.session.wants_more() {
        h.push(long);
    }
    assert_eq!(
        h.writes.len(),
        2,
        "a third line would overflow the 127-byte buffer"
    );
    let pushed = h.push(long);
    assert_eq!(h.writes.len(), 2, "line {pushed} waits for room");
    h.feed("ok");
    assert_eq!(h.writes.len(), 3);
    h.feed("ok\nok\nok");
    assert!(h.session.is_idle());
    h.clear();
    while h.session.wants_more() {
        h.push("G4");
    }
    assert_eq!(h.session.in_flight(), 4, "BUFSIZE caps the lines in flight");
}

#[test]
fn advanced_ok_acknowledges_by_line_number_and_limits_by_free_buffer_slots() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut h = Harness::connected(config);
    for _ in 0..3 {
        h.push("G4");
    }
    h.feed("ok N2 P15 B1");
    assert_eq!(h.acked(), vec![1, 2]);
    h.feed("ok N1 P15 B3");
    assert_eq!(h.acked(), vec![1, 2], "a stale line number frees nothing");
    assert!(
        !h.session.wants_more(),
        "B1 with one line in flight leaves no free slot"
    );
    h.feed("ok N3 P15 B3");
    assert!(h.session.wants_more());
}

#[test]
fn timeout_in_windowed_mode_falls_back_to_ping_pong() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut h = Harness::connected(config);
    h.push("G4");
    h.push("G4 P1");
    h.advance(30_000);
    assert!(h.events.contains(&SessionEvent::FlowControlChanged {
        from: FlowControl::MARLIN_WINDOW,
        to: FlowControl::PingPong,
        reason: FallbackReason::Timeout
    }));
    assert_eq!(
        h.writes[2..],
        [wire(1, "G4")],
        "ping-pong again, from the oldest line"
    );
}

#[test]
fn temperature_reports_become_events_with_or_without_ok() {
    let mut h = Harness::connected(SessionConfig::default());
    h.feed(" T:20.31 /0.00 B:19.92 /0.00 @:0 B@:0");
    h.push("M105");
    h.feed("ok T:20.31 /0.00 B:19.92 /0.00 @:0 B@:0");
    let temps = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Temperatures(_)))
        .count();
    assert_eq!(temps, 2);
    assert_eq!(h.acked(), vec![1]);
}

#[test]
fn pushing_before_the_handshake_or_with_a_line_break_is_refused() {
    let mut h = Harness::new(SessionConfig::default());
    assert_eq!(h.session.push_line("G28", 0), Err(SessionError::NotReady));
    let mut h = Harness::connected(SessionConfig::default());
    assert_eq!(
        h.session.push_line("G28\nG29", 0),
        Err(SessionError::EmbeddedNewline)
    );
    let pushed = h.session.push_line("; just a comment", 0).unwrap();
    assert_eq!(
        pushed,
        Pushed {
            line: None,
            actions: Vec::new()
        }
    );
    let too_long = format!("M117 {}", "x".repeat(100));
    assert!(matches!(
        h.session.push_line(&too_long, 0),
        Err(SessionError::LineTooLong { .. })
    ));
    assert_eq!(h.push("G28"), 1, "refused lines take no number");
    h.feed("ok");
    assert_eq!(h.push("G29\r\n"), 2, "a trailing line ending is accepted");
    assert_eq!(
        h.writes.last().map(String::as_str),
        Some(wire(2, "G29").as_str())
    );
}
