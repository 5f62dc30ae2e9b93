use proptest::prelude::*;

use super::*;
use crate::printer::serial::protocol::error::FirmwareErrorKind;
use crate::printer::serial::protocol::temps::Heater;

fn plain_ok() -> Reply {
    Reply::Ok {
        line: None,
        planner: None,
        buffer: None,
        temps: None,
    }
}

#[test]
fn plain_ok_and_advanced_ok_are_parsed() {
    assert_eq!(Reply::parse("ok\n"), plain_ok());
    assert_eq!(
        Reply::parse("ok N42 P15 B3"),
        Reply::Ok {
            line: Some(42),
            planner: Some(15),
            buffer: Some(3),
            temps: None
        }
    );
    assert_eq!(
        Reply::parse("ok P14 B0"),
        Reply::Ok {
            line: None,
            planner: Some(14),
            buffer: Some(0),
            temps: None
        }
    );
}

#[test]
fn ok_with_temperatures_is_an_m105_reply() {
    let Reply::Ok {
        temps: Some(temps),
        buffer,
        ..
    } = Reply::parse("ok T:210.0 /210.0 B:60.0 /60.0 @:127 B@:0")
    else {
        panic!("expected ok with temperatures");
    };
    assert_eq!(buffer, None);
    assert_eq!(temps.bed().unwrap().actual, 60.0);
    let Reply::Ok {
        temps: Some(klipper),
        ..
    } = Reply::parse("ok B:60.0 /60.0 T0:210.0 /210.0")
    else {
        panic!("expected klipper ok with temperatures");
    };
    assert_eq!(klipper.hotend(0).unwrap().target, Some(210.0));
}

#[test]
fn every_resend_spelling_gives_the_line_number() {
    for text in [
        "Resend: 12",
        "Resend:12",
        "resend 12",
        "rs 12",
        "rs N12",
        "RESEND: N12\r\n",
    ] {
        assert_eq!(Reply::parse(text), Reply::Resend(12), "{text}");
    }
    assert_eq!(Reply::parse("Resend: x"), Reply::Other("Resend: x".into()));
}

#[test]
fn errors_are_classified() {
    let Reply::Error(e) = Reply::parse("Error:checksum mismatch, Last Line: 41") else {
        panic!("expected an error");
    };
    assert_eq!(
        e.kind,
        FirmwareErrorKind::Checksum {
            last_line: Some(41)
        }
    );
    let Reply::Error(e) = Reply::parse("Error:Thermal Runaway, system stopped! Heater_ID: 0")
    else {
        panic!("expected an error");
    };
    assert!(e.is_fatal());
    assert_eq!(
        e.kind,
        FirmwareErrorKind::ThermalRunaway {
            heater: Some(Heater::Hotend(0))
        }
    );
    let Reply::Error(e) = Reply::parse("echo:Unknown command: \"M4242\"") else {
        panic!("expected an error");
    };
    assert_eq!(e.kind, FirmwareErrorKind::UnknownCommand);
    let Reply::Error(e) = Reply::parse("!! Move out of range: 0.000 0.000 -5.000 [0.000]") else {
        panic!("expected a klipper error");
    };
    assert!(!e.is_fatal());
}

#[test]
fn busy_keep_alives_are_recognised_with_or_without_echo() {
    assert_eq!(
        Reply::parse("echo:busy: processing"),
        Reply::Busy(BusyKind::Processing)
    );
    assert_eq!(
        Reply::parse("echo:busy: paused for user"),
        Reply::Busy(BusyKind::PausedForUser)
    );
    assert_eq!(
        Reply::parse("busy: paused for input"),
        Reply::Busy(BusyKind::WaitingForUser)
    );
    assert_eq!(
        Reply::parse("echo:busy: dreaming"),
        Reply::Busy(BusyKind::Other("dreaming".into()))
    );
}

#[test]
fn boot_idle_echo_and_host_action_lines() {
    assert_eq!(Reply::parse("start\r\n"), Reply::Start);
    assert_eq!(Reply::parse("\0start"), Reply::Start);
    assert_eq!(Reply::parse("wait"), Reply::Wait);
    assert_eq!(
        Reply::parse("echo:SD card ok"),
        Reply::Echo("SD card ok".into())
    );
    assert_eq!(
        Reply::parse("//action:pause"),
        Reply::HostAction("pause".into())
    );
}

#[test]
fn m115_lines_give_firmware_info_and_capabilities() {
    let Reply::FirmwareInfo(info) =
        Reply::parse("FIRMWARE_NAME:Marlin 2.1.2 (Jan 1 2024) EXTRUDER_COUNT:2")
    else {
        panic!("expected firmware info");
    };
    assert_eq!(info.extruder_count, Some(2));
    assert_eq!(
        Reply::parse("Cap:AUTOREPORT_TEMP:1"),
        Reply::Capability {
            name: "AUTOREPORT_TEMP".into(),
            enabled: true
        }
    );
}

#[test]
fn auto_reported_temperatures_without_ok() {
    let Reply::Temperatures(t) = Reply::parse(" T:200.12 /200.00 B:59.90 /60.00 @:80 B@:20") else {
        panic!("expected temperatures");
    };
    assert_eq!(t.hotend(0).unwrap().actual, 200.12);
    assert!(matches!(
        Reply::parse("T0:20.0 /0.0 T1:21.0 /0.0"),
        Reply::Temperatures(_)
    ));
}

#[test]
fn words_that_merely_start_like_keywords_are_other() {
    for text in ["okay then", "rsync", "started", "Tx:1", "B"] {
        assert_eq!(Reply::parse(text), Reply::Other(text.into()), "{text}");
    }
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".*") {
        let _ = Reply::parse(&text);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Reply::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parsing_keyword_soup_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("ok"), Just("N"), Just("T:"), Just("B:"), Just("/"), Just("Resend:"), Just("rs"),
                Just("Error:"), Just("Heater_ID:"), Just("Last Line:"), Just("Cap:"), Just(":"),
                Just("FIRMWARE_NAME:"), Just("echo:busy:"), Just(" "), Just("é"), Just("1"), Just("-2.5"),
            ],
            0..24,
        )
    ) {
        let _ = Reply::parse(&parts.concat());
    }
}
