//! A printer's option tables (`safety`, `serial`, `simulator`) and its driver-only keys:
//! defaults, normalization, one line per bad value, and tables the driver does not use.

use super::*;
use fluxprint_gateway::config::{FlowControlMode, SafetyPolicy, SerialOptions};

#[test]
fn omitted_printer_option_tables_take_their_documented_defaults() {
    let config = load_text(MINIMAL, &[]).expect("minimal config is valid");
    let printer = &config.printers[0];
    assert_eq!(printer.safety.max_hotend_c, 285.0);
    assert_eq!(printer.safety.max_bed_c, 120.0);
    assert_eq!(printer.safety.blocked_commands, ["M500", "M502", "M997"]);
    let serial = &printer.serial;
    assert_eq!(serial.flow_control, FlowControlMode::Windowed);
    assert_eq!(
        (
            serial.rx_buffer_bytes,
            serial.max_in_flight,
            serial.ok_timeout_s
        ),
        (128, 4, 30)
    );
    assert!(serial.pause_script.is_empty() && serial.resume_script.is_empty());
    assert_eq!(serial.cancel_script, ["M104 S0", "M140 S0", "M107", "M84"]);
    assert_eq!(simulator_of(&config, 0), &SimConfig::default());
}

/// The example documents each option table as commented-out defaults; uncommented, they
/// must load and equal what the code applies when the tables are absent.
#[test]
fn the_examples_commented_option_tables_hold_the_real_defaults() {
    let example = std::fs::read_to_string(example_path()).expect("read example");
    let mut in_table = false;
    let uncommented: Vec<&str> = example
        .lines()
        .map(|line| {
            let body = line.strip_prefix("# ").unwrap_or(line);
            in_table = body.starts_with("[printers.") || (in_table && line.starts_with('#'));
            let setting = body.starts_with('[') || body.contains(" = ");
            if in_table && setting { body } else { line }
        })
        .collect();
    let text = uncommented.join("\n");
    assert_eq!(text.matches("\n[printers.").count(), 3, "{text}");
    let config = load_text(&text, &[]).expect("uncommented example is valid");
    for printer in &config.printers {
        assert_eq!(printer.safety, SafetyPolicy::default());
        assert_eq!(printer.serial, SerialOptions::default());
    }
    let documented = SimConfig {
        corrupt_every: Some(0.0),
        ..SimConfig::default()
    };
    assert_eq!(simulator_of(&config, 1), &documented);
}

#[test]
fn printer_option_tables_are_read_and_blocked_commands_normalized() {
    let text = format!(
        "{MINIMAL}[printers.safety]\nmax_hotend_c = 300\nblocked_commands = [\"m600\", \"M0500\"]\n\
         [printers.serial]\nflow_control = \"ping-pong\"\nmax_in_flight = 1\npause_script = [\" G91 \"]\n\
         [printers.simulator]\nspeed_up = 10.0\ncorrupt_every = 0.01\nbytes_per_second = 11520\n\
         advanced_ok = true\n"
    );
    let config = load_text(&text, &[]).expect("valid option tables");
    let printer = &config.printers[0];
    assert_eq!(printer.safety.max_hotend_c, 300.0);
    assert_eq!(printer.safety.blocked_commands, ["M600", "M500"]);
    assert_eq!(printer.serial.flow_control, FlowControlMode::PingPong);
    assert_eq!(printer.serial.max_in_flight, 1);
    assert_eq!(printer.serial.pause_script, ["G91"]);
    let sim = simulator_of(&config, 0);
    assert_eq!(sim.speed_up, 10.0);
    assert_eq!(sim.corrupt_every, Some(0.01));
    assert_eq!(sim.bytes_per_second, Some(11_520));
    assert!(sim.advanced_ok);
}

#[test]
fn each_bad_printer_option_is_named_by_its_key_path() {
    let text = format!(
        "{MINIMAL}[printers.safety]\nmax_hotend_c = 0\nmax_bed_c = nan\n\
         blocked_commands = [\"M500\", \"X1\"]\n[printers.serial]\nflow_control = \"fast\"\n\
         rx_buffer_bytes = 16\nmax_in_flight = 0\nok_timeout_s = 7200\ncancel_script = [\"M84\", \"\"]\n\
         [printers.simulator]\nspeed_up = 0.0\n\
         [[printers]]\nid = \"usb\"\ndriver = \"serial\"\nport = \"/dev/ttyACM0\"\n\
         build_volume = [1, 1, 1]\n[printers.serial]\npause_script = [\"m502 ; reset\"]\n\
         resume_script = [\"M104 S0\\nM500\"]\n"
    );
    let lines = problems(&text);
    for expected in [
        "printers[0].safety.max_hotend_c: must be a positive number of °C, not 0",
        "printers[0].safety.max_bed_c: must be a positive number of °C, not NaN",
        "printers[0].safety.blocked_commands[1]: \"X1\" is not a G-code command word",
        "printers[0].serial.flow_control: unknown flow control \"fast\"",
        "printers[0].serial.rx_buffer_bytes: must be in 32..=4096, not 16",
        "printers[0].serial.max_in_flight: must be in 1..=64, not 0",
        "printers[0].serial.ok_timeout_s: must be in 1..=3600, not 7200",
        "printers[0].serial.cancel_script[1]: must not be empty",
        "printers[0].simulator.speed_up: must be a finite number above 0, not 0",
        "printers[1].serial.pause_script[0]: sends M502, which the printer's safety.blocked_commands refuses",
        "printers[1].serial.resume_script[0]: must be a single line",
    ] {
        assert_has(&lines, expected);
    }
    assert_eq!(lines.len(), 11, "{lines:#?}");
}

#[test]
fn a_simulator_check_is_reported_under_the_setting_it_is_about() {
    let text = format!("{MINIMAL}[printers.simulator]\ncorrupt_every = 1.5\n");
    let lines = problems(&text);
    assert_eq!(
        lines,
        [
            "printers[0].simulator.corrupt_every: must be in 0.0..1.0 so that resent lines get through, not 1.5"
        ]
    );
}

#[test]
fn a_serial_table_on_an_octoprint_printer_is_rejected() {
    let text = "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"op\"\ndriver = \"octoprint\"\n\
                url = \"http://127.0.0.1:5000\"\napi_key = \"key\"\nbuild_volume = [1, 1, 1]\n\
                [printers.serial]\nflow_control = \"ping-pong\"\n";
    assert_eq!(
        problems(text),
        ["printers[0].serial: not used by the \"octoprint\" driver"]
    );
}

#[test]
fn a_simulator_table_on_a_serial_printer_is_rejected() {
    let text = "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"usb\"\ndriver = \"serial\"\n\
                port = \"/dev/ttyACM0\"\nbuild_volume = [1, 1, 1]\n[printers.simulator]\nspeed_up = 2.0\n";
    assert_eq!(
        problems(text),
        ["printers[0].simulator: not used by the \"serial\" driver"]
    );
}

#[test]
fn an_unknown_key_inside_the_simulator_table_is_named_by_its_full_path() {
    let text = format!("{MINIMAL}[printers.simulator]\nspeed_up = 2.0\ncolour = \"red\"\n");
    assert_eq!(
        problems(&text),
        ["printers[0].simulator.colour: unknown key"]
    );
}

#[test]
fn an_octoprint_ca_file_must_be_readable_and_is_only_for_octoprint() {
    let text = r#"
[gateway]
id = "gw"
[[printers]]
id = "op"
driver = "octoprint"
url = "https://octopi.local"
api_key = "octo-secret-9876543210"
ca_file = "/nonexistent/octopi-ca.pem"
build_volume = [1, 1, 1]
[[printers]]
id = "usb"
driver = "serial"
port = "/dev/ttyUSB0"
ca_file = "/nonexistent/octopi-ca.pem"
build_volume = [1, 1, 1]
"#;
    let lines = problems(text);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("printers[0].ca_file: ") && l.contains("octopi-ca.pem")),
        "{lines:#?}"
    );
    assert_has(
        &lines,
        "printers[1].ca_file: not used by the \"serial\" driver",
    );
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn a_moonraker_printer_needs_its_url_and_takes_a_key_only_when_given_one() {
    let text = "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"voron\"\ndriver = \"moonraker\"\n\
                url = \"http://192.168.1.60:7125\"\nbuild_volume = [350, 350, 340]\n\
                [[printers]]\nid = \"secure\"\ndriver = \"moonraker\"\nurl = \"https://voron.lan\"\n\
                api_key = \"moon-secret-0123\"\ndelete_after_job = true\nbuild_volume = [1, 1, 1]\n";
    let config = load_text(text, &[]).expect("valid moonraker printers");
    let DriverConfig::Moonraker {
        url,
        api_key,
        delete_after_job,
        ca_file,
    } = &config.printers[0].driver
    else {
        panic!("expected moonraker, got {:?}", config.printers[0].driver);
    };
    assert_eq!(url.as_str(), "http://192.168.1.60:7125/");
    assert!(api_key.is_none() && !delete_after_job && ca_file.is_none());
    let DriverConfig::Moonraker {
        api_key,
        delete_after_job,
        ..
    } = &config.printers[1].driver
    else {
        panic!("expected moonraker");
    };
    assert_eq!(
        api_key.as_ref().map(|k| k.expose()),
        Some("moon-secret-0123")
    );
    assert!(delete_after_job);
    assert!(!format!("{config:?}").contains("moon-secret"));
}

#[test]
fn a_moonraker_printer_without_a_url_or_with_serial_keys_is_reported_per_key() {
    let text = "[gateway]\nid = \"gw\"\n[[printers]]\nid = \"voron\"\ndriver = \"moonraker\"\n\
                baud = 250000\napi_key = \"\"\nbuild_volume = [1, 1, 1]\n[printers.serial]\n\
                [[printers]]\nid = \"ws\"\ndriver = \"moonraker\"\nurl = \"ws://voron.lan:7125\"\n\
                build_volume = [1, 1, 1]\n";
    let lines = problems(text);
    assert_has(
        &lines,
        "printers[0].url: missing (required by the \"moonraker\" driver)",
    );
    assert_has(&lines, "printers[0].api_key: must not be empty");
    assert_has(
        &lines,
        "printers[0].baud: not used by the \"moonraker\" driver",
    );
    assert_has(
        &lines,
        "printers[0].serial: not used by the \"moonraker\" driver",
    );
    assert_has(&lines, "printers[1].url: ");
    assert_eq!(lines.len(), 5, "{lines:#?}");
}

/// The example's commented Moonraker printer, uncommented, loads as documented (but for
/// its `ca_file`, a path on the operator's machine).
#[test]
fn the_examples_commented_moonraker_printer_is_valid() {
    let example = std::fs::read_to_string(example_path()).expect("read example");
    let start = example
        .find("# [[printers]]\n# id = \"voron\"")
        .expect("the example documents a Moonraker printer");
    let block: String = example[start..]
        .lines()
        .take_while(|l| l.starts_with("# "))
        .filter(|l| !l.starts_with("# ca_file"))
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    let config = load_text(&format!("[gateway]\nid = \"gw\"\n{block}"), &[])
        .unwrap_or_else(|e| panic!("{e}\n{block}"));
    assert_eq!(config.printers[0].driver.name(), "moonraker");
}
