//! Session tests driven by recorded firmware transcripts.

use super::harness::{Harness, wire};
use super::*;

const MARLIN_BOOT: &str = "\
start
Marlin 2.1.2.1
echo: Last Updated: 2023-07-13 | Author: (none, default config)
echo: Compiled: Jul 13 2023
echo: Free Memory: 2603  PlannerBufferBytes: 1264
echo:SD card ok";

const MARLIN_M115: &str = "\
FIRMWARE_NAME:Marlin 2.1.2.1 (Jul 13 2023 10:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff
Cap:SERIAL_XON_XOFF:0
Cap:BINARY_FILE_TRANSFER:0
Cap:EEPROM:1
Cap:AUTOREPORT_TEMP:1
Cap:HOST_ACTION_COMMANDS:0
ok";

const MARLIN_CHECKSUM_ERROR: &str = "\
Error:checksum mismatch, Last Line: 41
Resend: 42
ok";

const PRUSA_RESEND: &str = "\
Error:Line Number is not Last Line Number+1, Last Line: 9
Resend: 10";

#[test]
fn avr_boot_banner_triggers_a_second_handshake_then_m115_reports_info_and_capabilities() {
    let mut h = Harness::new(SessionConfig::default());
    let actions = h.session.connect(h.now);
    h.absorb(actions);
    assert_eq!(h.writes, vec!["N0 M110 N0*125\n"]);
    h.feed(MARLIN_BOOT);
    assert_eq!(
        h.writes,
        vec!["N0 M110 N0*125\n"; 2],
        "the reset swallowed the first handshake"
    );
    assert!(!h.session.is_ready());
    h.feed("ok");
    assert_eq!(h.events.last(), Some(&SessionEvent::Connected));
    h.clear();

    assert_eq!(h.push("M115 ; firmware info"), 1);
    assert_eq!(h.writes, vec![wire(1, "M115")]);
    h.feed(MARLIN_M115);
    let info = h.events.iter().find_map(|e| match e {
        SessionEvent::FirmwareInfo(info) => Some(info.clone()),
        _ => None,
    });
    assert_eq!(info.unwrap().machine_type.as_deref(), Some("Ender-3 V2"));
    assert!(h.events.contains(&SessionEvent::Capability {
        name: "AUTOREPORT_TEMP".into(),
        enabled: true
    }));
    assert!(h.events.contains(&SessionEvent::Capability {
        name: "EEPROM".into(),
        enabled: true
    }));
    assert_eq!(h.acked(), vec![1]);
}

#[test]
fn handshake_rejected_by_the_firmware_is_sent_again_instead_of_connecting() {
    let mut h = Harness::new(SessionConfig::default());
    let actions = h.session.connect(h.now);
    h.absorb(actions);
    h.feed(MARLIN_CHECKSUM_ERROR);
    assert!(!h.session.is_ready());
    assert_eq!(h.writes.len(), 2);
    h.feed("ok");
    assert!(h.session.is_ready());
}

#[test]
fn handshake_without_answer_is_retried_after_the_timeout() {
    let mut h = Harness::new(SessionConfig::default());
    let actions = h.session.connect(h.now);
    h.absorb(actions);
    h.advance(4_999);
    assert_eq!(h.writes.len(), 1);
    h.advance(1);
    assert_eq!(h.writes.len(), 2);
    assert!(
        h.events
            .contains(&SessionEvent::Timeout(TimeoutKind::Handshake))
    );
}

#[test]
fn marlin_checksum_error_rewinds_once_and_the_extra_ok_does_not_ack_the_resent_line() {
    let mut h = Harness::connected(SessionConfig::default());
    h.advance_numbering_to(42);
    h.push("G1 X10 Y10 E1.5");
    h.feed("Error:checksum mismatch, Last Line: 41\nResend: 42");
    assert!(
        h.writes.len() == 1,
        "no rewrite before the firmware's extra ok"
    );
    h.feed("ok");
    assert_eq!(h.writes, vec![wire(42, "G1 X10 Y10 E1.5"); 2]);
    assert!(
        h.acked().is_empty(),
        "the extra ok belongs to the resend request"
    );
    h.feed("ok");
    assert_eq!(h.acked(), vec![42]);
    assert_eq!(h.writes.len(), 2);
    assert!(h.session.is_idle());
}

#[test]
fn prusa_resend_without_extra_ok_rewinds_after_a_quiet_pause() {
    let mut h = Harness::connected(SessionConfig::default());
    h.advance_numbering_to(10);
    h.push("G1 Z0.2");
    h.feed(PRUSA_RESEND);
    h.advance(499);
    assert_eq!(h.writes.len(), 1);
    h.advance(1);
    assert_eq!(h.writes, vec![wire(10, "G1 Z0.2"); 2]);
    h.feed("ok");
    assert_eq!(h.acked(), vec![10]);
}

#[test]
fn duplicate_resend_requests_from_stale_lines_rewind_only_once() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut h = Harness::connected(config);
    h.advance_numbering_to(10);
    for cmd in ["G1 X1", "G1 X2", "G1 X3"] {
        h.push(cmd);
    }
    assert_eq!(h.writes.len(), 3);
    h.feed(&MARLIN_CHECKSUM_ERROR.replace("41", "9").replace("42", "10"));
    h.feed("Error:Line Number is not Last Line Number+1, Last Line: 9\nResend: 10\nok");
    h.feed("Error:Line Number is not Last Line Number+1, Last Line: 9\nResend: 10\nok");
    let changes: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::FlowControlChanged { .. }))
        .collect();
    assert_eq!(
        changes,
        [&SessionEvent::FlowControlChanged {
            from: FlowControl::MARLIN_WINDOW,
            to: FlowControl::PingPong,
            reason: FallbackReason::Resend
        }]
    );
    assert_eq!(
        h.writes.len(),
        3,
        "stale lines may still answer: wait for quiet"
    );
    h.advance(500);
    assert_eq!(h.writes[3..], [wire(10, "G1 X1")]);
    h.feed("ok");
    h.feed("ok");
    assert_eq!(
        h.writes[3..],
        [wire(10, "G1 X1"), wire(11, "G1 X2"), wire(12, "G1 X3")]
    );
    h.feed("ok");
    assert_eq!(h.acked(), vec![10, 11, 12]);
    assert_eq!(h.session.flow_control(), FlowControl::PingPong);
}

#[test]
fn resend_of_a_line_no_longer_in_history_is_a_fatal_protocol_error() {
    let mut h = Harness::connected(SessionConfig::default());
    h.advance_numbering_to(300);
    h.push("G1 X1");
    h.feed("Resend: 5");
    assert!(matches!(
        h.events.last(),
        Some(SessionEvent::ProtocolFailed(
            ProtocolError::ResendOutOfHistory { requested: 5, .. }
        ))
    ));
    assert!(matches!(
        h.session.push_line("G1 X2", h.now),
        Err(SessionError::Halted(Halt::Protocol(_)))
    ));
}

#[test]
fn resend_of_a_line_never_sent_is_a_fatal_protocol_error() {
    let mut h = Harness::connected(SessionConfig::default());
    h.push("G28");
    h.feed("Resend: 7");
    assert!(matches!(
        h.events.last(),
        Some(SessionEvent::ProtocolFailed(
            ProtocolError::ResendBeyondSent {
                requested: 7,
                last_sent: 1
            }
        ))
    ));
}

#[test]
fn lines_resent_after_the_history_turned_over_many_times_are_the_lines_sent() {
    // Lines of many lengths, four times the history's size: the kept bytes have been
    // dropped from the front and appended at the back well past their first allocation.
    let cmd = |n: u32| format!("G1 X{n} Y{} E0.{}", n % 7, "5".repeat(n as usize % 50));
    let mut h = Harness::connected(SessionConfig::default());
    for n in 1..=1000 {
        h.push(&cmd(n));
        h.feed("ok");
    }
    let sent: Vec<String> = (1..=1000).map(|n| wire(n, &cmd(n))).collect();
    assert_eq!(h.writes, sent);
    h.clear();
    h.push(&cmd(1001));
    // The firmware asks again from a line 200 back, which the history still holds.
    h.feed("Error:checksum mismatch, Last Line: 800\nResend: 801\nok");
    for _ in 801..=1001 {
        h.feed("ok");
    }
    let resent: Vec<String> = (801..=1001).map(|n| wire(n, &cmd(n))).collect();
    assert_eq!(h.writes[1..], resent[..]);
    assert!(h.session.is_idle());
}
