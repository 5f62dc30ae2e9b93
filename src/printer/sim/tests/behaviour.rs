//! What commands do over simulated time: heating, moves, pauses, halts and reports.

use super::{Bench, fast_config};
use crate::printer::sim::{HeaterId, KillReason, Position, SimConfig};

#[test]
fn m109_heats_at_the_configured_rate_with_busy_messages_every_two_seconds() {
    let mut bench = Bench::quiet(SimConfig {
        hotend_heat_rate_c_per_s: 2.0,
        ..fast_config()
    });
    assert_eq!(bench.send("M109 S45\n"), "");
    assert_eq!(bench.fw.next_deadline(), Some(1000));
    let steps = bench.wait_in_steps(10_000, 1000);
    // 25 °C -> 45 °C at 2 °C/s takes 10 s.
    assert!((bench.fw.hotend().current_c - 45.0).abs() < 1e-9);
    assert!(steps[0].starts_with(" T:27.00 /45.00 B:25.00 /0.00 @:127 B@:0 W:?"));
    for (i, out) in steps.iter().enumerate().take(9) {
        let busy = out.contains("echo:busy: processing\n");
        assert_eq!(busy, i % 2 == 1, "second {}: {out:?}", i + 1);
        assert!(!out.contains("ok"), "second {}: {out:?}", i + 1);
    }
    assert!(steps[9].ends_with("ok\n"), "{:?}", steps[9]);
    assert_eq!(bench.fw.hotend().target_c, 45.0);
}

#[test]
fn heating_runs_faster_with_the_speed_up_and_m190_waits_for_the_bed() {
    let mut bench = Bench::quiet(SimConfig {
        speed_up: 10.0,
        busy_interval_ms: 0,
        ..fast_config()
    });
    bench.send("M190 S35\n");
    // 10 °C at 0.5 °C/s is 20 s of physics, 2 s at ten times the speed.
    let out = bench.wait(1999);
    assert!(!out.contains("ok"), "{out}");
    assert!(!out.contains("busy"), "{out}");
    assert_eq!(bench.wait(1), "ok\n");
    assert_eq!(bench.fw.bed().current_c, 35.0);
}

#[test]
fn m108_cancels_a_heating_wait_at_once_even_with_a_full_queue() {
    let mut bench = Bench::quiet(SimConfig {
        bufsize: 1,
        line_latency_ms: 5,
        ..SimConfig::default()
    });
    bench.send("M109 S200\n");
    assert_eq!(bench.wait(10), "");
    // The emergency parser ends the wait (M109's ok) before M108 itself is even queued.
    assert_eq!(bench.send("M108\n"), "ok\n");
    assert_eq!(bench.wait(5), "ok\n");
}

#[test]
fn m600_pauses_for_the_user_until_the_knob_is_pressed() {
    let mut bench = Bench::quiet(SimConfig {
        speed_up: 100.0,
        ..fast_config()
    });
    bench.send("G1 X100 F6000\n");
    assert_eq!(bench.send("M600\n"), "");
    let out = bench.wait(100);
    assert_eq!(out, "echo:Insert filament and send M108\n");
    assert!(bench.fw.is_paused_for_user());
    let paused = bench.wait(4000);
    assert_eq!(
        paused.matches("echo:busy: paused for user\n").count(),
        2,
        "{paused}"
    );
    assert!(!paused.contains("ok"));
    assert_eq!(bench.fw.press_knob(bench.now), b"");
    assert!(!bench.fw.is_paused_for_user());
    assert_eq!(bench.wait(50), "ok\n");
}

#[test]
fn m600_resumes_on_its_own_when_auto_resume_is_configured() {
    let mut bench = Bench::quiet(SimConfig {
        filament_change_auto_resume_ms: Some(3000),
        speed_up: 1000.0,
        ..fast_config()
    });
    bench.send("M600\n");
    let out = bench.wait(3010);
    assert!(out.contains("echo:busy: paused for user\n"), "{out}");
    assert!(out.ends_with("ok\n"), "{out}");
}

#[test]
fn m112_halts_the_printer_and_it_ignores_everything_until_reset() {
    let mut bench = Bench::quiet(fast_config());
    bench.send("M104 S200\n");
    assert_eq!(
        bench.send("N1 M112*19\n"),
        "Error:Printer halted. kill() called!\n"
    );
    assert!(bench.fw.is_killed());
    assert_eq!(bench.fw.kill_reason(), Some(KillReason::EmergencyStop));
    assert_eq!(bench.fw.hotend().target_c, 0.0);
    assert_eq!(bench.send("M105\n"), "");
    assert_eq!(bench.wait(10_000), "");
    assert_eq!(bench.fw.next_deadline(), None);
    let banner = super::text(bench.fw.reset(bench.now));
    assert!(banner.starts_with("start\n"));
    assert!(bench.send("M105\n").starts_with("ok T:"));
}

#[test]
fn injected_thermal_runaway_halts_when_the_line_executes() {
    let mut bench = Bench::quiet(SimConfig {
        thermal_runaway_at_line: Some(3),
        ..fast_config()
    });
    bench.send_numbered(1, "M104 S200");
    bench.send_numbered(2, "G28");
    let out = bench.send_numbered(3, "G1 X10");
    assert_eq!(out, "");
    let out = bench.wait(2000);
    assert!(
        out.ends_with(
            "Error:Thermal Runaway, system stopped! Heater_ID: 0\nError:Printer halted. kill() called!\n"
        ),
        "{out}"
    );
    assert_eq!(
        bench.fw.kill_reason(),
        Some(KillReason::ThermalRunaway(HeaterId::Hotend))
    );
    assert_eq!(bench.send_numbered(4, "G1 X20"), "");
}

#[test]
fn a_target_above_maxtemp_trips_the_maxtemp_fault() {
    let mut bench = Bench::quiet(SimConfig {
        max_bed_c: 100.0,
        speed_up: 100.0,
        ..fast_config()
    });
    assert_eq!(bench.send("M140 S120\n"), "ok\n");
    // 75 °C at 0.5 °C/s x100 is 1.5 s.
    assert_eq!(bench.fw.next_deadline(), Some(1500));
    assert_eq!(
        bench.wait(1500),
        "Error:MAXTEMP triggered, system stopped! Heater_ID: bed\nError:Printer halted. kill() called!\n"
    );
    assert!(bench.fw.is_killed());
}

#[test]
fn m155_reports_temperatures_on_its_own_until_turned_off() {
    let mut bench = Bench::quiet(fast_config());
    assert_eq!(bench.send("M155 S2\n"), "ok\n");
    assert_eq!(bench.wait(1999), "");
    assert_eq!(bench.wait(1), " T:25.00 /0.00 B:25.00 /0.00 @:0 B@:0\n");
    assert_eq!(bench.wait(4000).lines().count(), 2);
    bench.send("M155 S0\n");
    assert_eq!(bench.wait(10_000), "");
}

#[test]
fn a_move_is_acknowledged_when_planned_and_a_full_planner_delays_the_ok() {
    let mut bench = Bench::quiet(SimConfig {
        planner_depth: 2,
        ..fast_config()
    });
    // Each move is 10 mm at 600 mm/min: one second.
    assert_eq!(bench.send("G1 X10 F600\n"), "ok\n");
    assert_eq!(bench.send("G1 X20\n"), "ok\n");
    assert_eq!(bench.send("G1 X30\n"), "");
    assert_eq!(bench.fw.next_deadline(), Some(1000));
    assert_eq!(bench.wait(999), "");
    assert_eq!(bench.wait(1), "ok\n");
    assert_eq!(
        bench.fw.position(),
        Position {
            x: 30.0,
            y: 0.0,
            z: 0.0,
            e: 0.0
        }
    );
    // M400 waits for the last move (ends at 3 s).
    bench.send("M400\n");
    assert_eq!(bench.wait(1999), "");
    assert_eq!(bench.wait(1), "ok\n");
}

#[test]
fn relative_moves_g92_and_homing_update_the_position() {
    let mut bench = Bench::quiet(SimConfig {
        speed_up: 1000.0,
        ..fast_config()
    });
    for line in [
        "G91\n",
        "G1 X5 Y5 Z1 F6000\n",
        "G1 X5\n",
        "M83\n",
        "G90\n",
        "G1 E3\n",
        "G1 E3\n",
    ] {
        bench.send(line);
    }
    assert_eq!(
        bench.fw.position(),
        Position {
            x: 10.0,
            y: 5.0,
            z: 1.0,
            e: 6.0
        }
    );
    bench.send("G92 E0\n");
    bench.send("G28 X\n");
    assert_eq!(
        bench.fw.position(),
        Position {
            x: 0.0,
            y: 5.0,
            z: 1.0,
            e: 0.0
        }
    );
    assert_eq!(bench.wait(100), "ok\n");
}

#[test]
fn homing_blocks_with_busy_processing_keepalives() {
    let mut bench = Bench::quiet(SimConfig {
        speed_up: 0.1,
        ..fast_config()
    });
    bench.send("G28\n");
    // 1 s of bumping at a tenth of real speed: 10 s, so four keepalives, then ok.
    let out = bench.wait(10_000);
    assert_eq!(out.matches("echo:busy: processing\n").count(), 4, "{out}");
    assert!(out.ends_with("echo:busy: processing\nok\n"), "{out}");
}

#[test]
fn wait_is_printed_when_idle_only_if_configured() {
    let mut quiet = Bench::quiet(fast_config());
    assert_eq!(quiet.wait(60_000), "");
    let mut waiting = Bench::quiet(SimConfig {
        idle_wait_ms: Some(1000),
        ..fast_config()
    });
    assert_eq!(waiting.wait(3000), "wait\nwait\nwait\n");
    waiting.send("G90\n");
    assert_eq!(waiting.wait(999), "");
}

#[test]
fn sim_config_loads_from_toml_with_defaults_and_rejects_unknown_keys() {
    let parse = |toml: &str| {
        config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<SimConfig>())
    };
    let loaded = parse("firmware_name = \"prusa\"\nspeed_up = 50.0\ncorrupt_lines = [3, 9]")
        .expect("valid toml");
    assert_eq!(loaded.speed_up, 50.0);
    assert_eq!(loaded.corrupt_lines, vec![3, 9]);
    assert_eq!(loaded.rx_buffer_bytes, 128);
    assert_eq!(loaded.bufsize, 4);
    assert!(parse("bufsiz = 4").is_err());
    let invalid = SimConfig {
        corrupt_every: Some(1.0),
        ..SimConfig::default()
    };
    assert!(invalid.validate().is_err());
}

#[test]
fn wire_time_follows_the_configured_byte_rate() {
    let config = SimConfig {
        bytes_per_second: Some(SimConfig::bytes_per_second_for_baud(115_200)),
        ..SimConfig::default()
    };
    assert_eq!(config.wire_time_ms(11_520), 1000);
    assert_eq!(config.wire_time_ms(1), 1);
    assert_eq!(SimConfig::default().wire_time_ms(10_000), 0);
}
