//! The line protocol: banner, `M115`, numbered lines, checksums, resends, the receive buffer.

use super::{Bench, fast_config, numbered, text};
use crate::printer::sim::{FirmwareFlavor, SimConfig};

#[test]
fn opening_the_port_prints_the_start_banner_when_the_board_resets() {
    let (_, banner) = Bench::open(fast_config());
    let lines: Vec<&str> = banner.lines().collect();
    assert_eq!(lines[0], "start");
    assert!(lines.contains(&"echo:Marlin 2.1.2"), "{banner}");

    let (_, silent) = Bench::open(SimConfig {
        reset_on_open: false,
        ..fast_config()
    });
    assert_eq!(silent, "");
}

#[test]
fn bytes_sent_while_the_bootloader_runs_are_lost() {
    let (mut bench, banner) = Bench::open(SimConfig {
        boot_ms: 1500,
        ..fast_config()
    });
    assert_eq!(banner, "");
    assert!(bench.fw.is_booting());
    assert_eq!(bench.send("M105\n"), "");
    assert_eq!(bench.fw.dropped_bytes(), 5);
    assert_eq!(bench.fw.next_deadline(), Some(1500));
    assert!(bench.wait(1500).starts_with("start\n"));
    assert!(bench.send("M105\n").starts_with("ok T:25.00 /0.00"));
}

#[test]
fn m115_reports_firmware_name_and_capabilities_then_ok() {
    let mut bench = Bench::quiet(fast_config());
    let reply = bench.send("M115\n");
    let lines: Vec<&str> = reply.lines().collect();
    assert!(
        lines[0].starts_with("FIRMWARE_NAME:Marlin 2.1.2 ("),
        "{reply}"
    );
    for field in [
        "SOURCE_CODE_URL:",
        "PROTOCOL_VERSION:1.0",
        "EXTRUDER_COUNT:1",
        "UUID:",
    ] {
        assert!(lines[0].contains(field), "{field} missing in {}", lines[0]);
    }
    assert!(lines.contains(&"Cap:AUTOREPORT_TEMP:1"));
    assert!(lines.contains(&"Cap:EEPROM:1"));
    assert_eq!(lines.last(), Some(&"ok"));
}

#[test]
fn prusa_and_klipper_flavours_identify_themselves_their_own_way() {
    let mut prusa = Bench::quiet(SimConfig {
        firmware_name: FirmwareFlavor::Prusa,
        ..fast_config()
    });
    let reply = prusa.send("M115\n");
    assert!(reply.starts_with("FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin "));
    assert!(reply.ends_with("ok\n"));

    let (mut klipper, banner) = Bench::open(SimConfig {
        firmware_name: FirmwareFlavor::Klipper,
        ..fast_config()
    });
    assert_eq!(banner, "");
    assert_eq!(
        klipper.send("M115\n"),
        "ok FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-sim\n"
    );
    // Klipper does not check line numbers: a gap and a bad checksum pass.
    assert_eq!(klipper.send("N7 G28*1\n"), "");
    assert_eq!(klipper.numbered_commands(), vec![(7, "G28".to_owned())]);
}

#[test]
fn valid_numbered_lines_get_oks_and_are_recorded_without_number_or_checksum() {
    let mut bench = Bench::quiet(fast_config());
    assert_eq!(bench.send_numbered(1, "G90"), "ok\n");
    assert_eq!(bench.send_numbered(2, "M82"), "ok\n");
    assert_eq!(bench.send("M105 ; unnumbered\n").lines().count(), 1);
    assert_eq!(
        bench.numbered_commands(),
        vec![(1, "G90".to_owned()), (2, "M82".to_owned())]
    );
    let all = bench.fw.accepted_commands();
    assert_eq!(all[2].line, None);
    assert_eq!(all[2].command, "M105");
    assert_eq!(bench.fw.last_line_number(), 2);
}

#[test]
fn bad_checksum_is_refused_with_a_resend_of_the_next_line() {
    let mut bench = Bench::quiet(fast_config());
    bench.send_numbered(1, "G90");
    let reply = bench.send("N2 G1 X10*0\n");
    assert_eq!(
        reply,
        "Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n"
    );
    assert_eq!(bench.send_numbered(2, "G1 X10"), "ok\n");
    assert_eq!(bench.numbered_commands().len(), 2);
}

#[test]
fn skipped_line_number_is_refused_with_a_resend() {
    let mut bench = Bench::quiet(fast_config());
    bench.send_numbered(1, "G90");
    assert_eq!(
        bench.send_numbered(3, "G91"),
        "Error:Line Number is not Last Line Number+1, Last Line: 1\nResend: 2\nok\n"
    );
    assert_eq!(
        bench.send("N2 G91\n"),
        "Error:No Checksum with line number, Last Line: 1\nResend: 2\nok\n"
    );
    assert_eq!(bench.numbered_commands(), vec![(1, "G90".to_owned())]);
}

#[test]
fn m110_resets_the_line_numbering() {
    let mut bench = Bench::quiet(fast_config());
    bench.send_numbered(1, "G90");
    bench.send_numbered(2, "G90");
    assert_eq!(bench.send_numbered(0, "M110 N0"), "ok\n");
    assert_eq!(bench.fw.last_line_number(), 0);
    assert_eq!(bench.send_numbered(1, "G91"), "ok\n");
    assert_eq!(bench.send("M110 N41\n"), "ok\n");
    assert_eq!(bench.send_numbered(42, "G90"), "ok\n");
    let lines: Vec<i64> = bench.numbered_commands().iter().map(|c| c.0).collect();
    assert_eq!(lines, vec![1, 2, 0, 1, 42]);
}

#[test]
fn a_resent_duplicate_of_an_accepted_line_is_refused_and_recorded_once() {
    let mut bench = Bench::quiet(fast_config());
    bench.send_numbered(1, "G90");
    bench.send_numbered(2, "G1 X5");
    let reply = bench.send_numbered(2, "G1 X5");
    assert!(reply.starts_with("Error:Line Number is not Last Line Number+1, Last Line: 2\n"));
    assert!(reply.contains("Resend: 3\n"));
    assert_eq!(bench.numbered_commands().len(), 2);
}

#[test]
fn injected_corruption_resends_and_still_records_each_line_once() {
    let mut bench = Bench::quiet(SimConfig {
        corrupt_lines: vec![2, 4],
        ..fast_config()
    });
    let commands = ["G90", "G1 X1", "G1 X2", "G1 X3", "G1 X4"];
    let mut n = 1;
    let mut resends = 0;
    while n <= commands.len() {
        let reply = bench.send_numbered(n as i64, commands[n - 1]);
        match reply.lines().find_map(|l| l.strip_prefix("Resend: ")) {
            Some(line) => {
                resends += 1;
                n = line.parse().expect("resend number");
            }
            None => n += 1,
        }
    }
    assert_eq!(resends, 2);
    let recorded: Vec<String> = bench.numbered_commands().into_iter().map(|c| c.1).collect();
    assert_eq!(recorded, commands);
}

#[test]
fn overrunning_the_receive_buffer_drops_bytes_and_the_damaged_line_is_resent() {
    let mut bench = Bench::quiet(SimConfig {
        line_latency_ms: 100,
        ..SimConfig::default()
    });
    // 4 lines fill the queue, 128 bytes the receive buffer; the rest of the burst is lost.
    let burst: String = (1..=12)
        .map(|n| numbered(n, "G1 X10.000 Y10.000"))
        .collect();
    assert!(burst.len() > 4 * 30 + 128);
    assert_eq!(bench.send(&burst), "");
    assert!(bench.fw.dropped_bytes() > 0);
    let replies = bench.wait(5000);
    let accepted = bench.fw.last_line_number();
    assert!(accepted < 12, "{replies}");
    // The buffered tail ends mid-line; the host's next line completes it into garbage.
    let next = bench.send(&numbered(13, "G1 X1"));
    assert!(
        next.starts_with(&format!("Error:checksum mismatch, Last Line: {accepted}\n")),
        "{next}"
    );
    assert!(next.contains(&format!("Resend: {}\n", accepted + 1)));
    let lines: Vec<i64> = bench.numbered_commands().iter().map(|c| c.0).collect();
    assert_eq!(lines, (1..=accepted).collect::<Vec<_>>());
}

#[test]
fn advanced_ok_reports_line_planner_room_and_queue_room() {
    let mut bench = Bench::quiet(SimConfig {
        advanced_ok: true,
        ..fast_config()
    });
    assert_eq!(bench.send_numbered(1, "G1 X10 F600"), "ok N1 P15 B3\n");
    assert_eq!(bench.send("G1 X20\n"), "ok P14 B3\n");
    assert_eq!(
        bench.send_numbered(2, "M105"),
        format!("ok{}\n", " T:25.00 /0.00 B:25.00 /0.00 @:0 B@:0")
    );
}

#[test]
fn replies_wait_for_the_per_line_latency() {
    let mut bench = Bench::quiet(SimConfig {
        line_latency_ms: 5,
        ..SimConfig::default()
    });
    assert_eq!(bench.send_numbered(1, "G90"), "");
    assert_eq!(bench.fw.next_deadline(), Some(5));
    assert_eq!(bench.wait(4), "");
    assert_eq!(bench.wait(1), "ok\n");
    assert_eq!(bench.fw.next_deadline(), None);
}

#[test]
fn unknown_commands_are_echoed_and_acknowledged() {
    let mut bench = Bench::quiet(fast_config());
    assert_eq!(
        bench.send("M9000 X1\n"),
        "echo:Unknown command: \"M9000 X1\"\nok\n"
    );
    assert_eq!(text(bench.fw.poll(10)), "");
}
