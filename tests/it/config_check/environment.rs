//! `FLUXPRINT_*` environment variables: they override file values, reach into printer
//! entries, and a bad one is reported under its key with the variable named.

use super::*;
use fluxprint_gateway::config::FlowControlMode;
use fluxprint_gateway::printer::sim::FirmwareFlavor;

#[test]
fn environment_overrides_replace_file_values_and_are_parsed_to_the_key_type() {
    let env = [
        ("FLUXPRINT_WEB__LISTEN", "127.0.0.1:9000"),
        ("FLUXPRINT_GATEWAY__ID", "gw-9"),
        ("FLUXPRINT_WEB__PUBLIC_STATUS", "false"),
        ("FLUXPRINT_PRINTERS__0__BAUD", "250000"),
        (
            "FLUXPRINT_CLOUD__DOWNLOADS__ALLOW_HOSTS",
            "a.example.com,b.example.com",
        ),
        ("UNRELATED__VARIABLE", "ignored"),
    ];
    let file = std::fs::read_to_string(example_path()).expect("read example");
    let config = load_text(&file, &env).expect("overridden example is valid");
    assert_eq!(
        config.web.listen,
        "127.0.0.1:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.gateway.id, "gw-9");
    assert!(!config.web.public_status);
    assert!(matches!(
        config.printers[0].driver,
        DriverConfig::Serial { baud: 250_000, .. }
    ));
    assert_eq!(
        config.cloud.downloads.allow_hosts,
        ["a.example.com", "b.example.com"]
    );
    assert_eq!(
        config.printers.len(),
        2,
        "indexing a printer keeps the others"
    );
}

#[test]
fn a_bad_environment_override_names_the_key() {
    let lines = problems_with_env(MINIMAL, &[("FLUXPRINT_WEB__LISTEN", "abc")]);
    assert_eq!(
        lines,
        ["web.listen: invalid socket address \"abc\" (expected e.g. \"0.0.0.0:8080\")"]
    );

    let lines = problems_with_env(MINIMAL, &[("FLUXPRINT_WEB__PUBLIC_STATUS", "maybe")]);
    assert_has(&lines, "web.public_status: invalid type: string \"maybe\"");
    assert!(
        lines[0].ends_with("(from environment variable FLUXPRINT_WEB__PUBLIC_STATUS)"),
        "{lines:?}"
    );

    let lines = problems_with_env(MINIMAL, &[("FLUXPRINT_WEB__COLOUR", "blue")]);
    assert_eq!(
        lines,
        ["web.colour: unknown key (from environment variable FLUXPRINT_WEB__COLOUR)"]
    );
}

#[test]
fn environment_overrides_reach_tables_nested_inside_a_printer_entry() {
    let env = [
        ("FLUXPRINT_PRINTERS__0__SAFETY__MAX_HOTEND_C", "250"),
        (
            "FLUXPRINT_PRINTERS__0__SAFETY__BLOCKED_COMMANDS",
            "m500, M997",
        ),
        ("FLUXPRINT_PRINTERS__0__SERIAL__FLOW_CONTROL", "ping-pong"),
        (
            "FLUXPRINT_PRINTERS__0__SERIAL__CANCEL_SCRIPT",
            "M104 S0,M84",
        ),
        ("FLUXPRINT_PRINTERS__1__SIMULATOR__SPEED_UP", "10"),
        (
            "FLUXPRINT_PRINTERS__1__SIMULATOR__BYTES_PER_SECOND",
            "11520",
        ),
        ("FLUXPRINT_PRINTERS__1__SIMULATOR__FIRMWARE_NAME", "prusa"),
        ("FLUXPRINT_PRINTERS__1__SIMULATOR__CORRUPT_LINES", "3,5"),
    ];
    let file = std::fs::read_to_string(example_path()).expect("read example");
    let config = load_text(&file, &env).expect("overridden example is valid");
    let mk3s = &config.printers[0];
    assert_eq!(mk3s.safety.max_hotend_c, 250.0);
    assert_eq!(mk3s.safety.max_bed_c, 120.0, "untouched keys keep defaults");
    assert_eq!(mk3s.safety.blocked_commands, ["M500", "M997"]);
    assert_eq!(mk3s.serial.flow_control, FlowControlMode::PingPong);
    assert_eq!(mk3s.serial.cancel_script, ["M104 S0", "M84"]);
    let sim = simulator_of(&config, 1);
    assert_eq!((sim.speed_up, sim.bytes_per_second), (10.0, Some(11_520)));
    assert_eq!(sim.firmware_name, FirmwareFlavor::Prusa);
    assert_eq!(sim.corrupt_lines, [3, 5]);

    let env = [("FLUXPRINT_PRINTERS__0__SERIAL__MAX_IN_FLIGHT", "lots")];
    let lines = problems_with_env(&file, &env);
    assert_has(&lines, "printers[0].serial.max_in_flight: invalid type");
    assert!(
        lines[0]
            .ends_with("(from environment variable FLUXPRINT_PRINTERS__0__SERIAL__MAX_IN_FLIGHT)"),
        "{lines:?}"
    );
}
