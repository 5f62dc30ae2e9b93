//! `config::load` against real files: the shipped example, and one bad file per kind of
//! mistake an operator makes, each of which must be reported on one line naming the key.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fluxprint_gateway::config::{
    self, Config, ConfigErrors, DriverConfig, FlowControlMode, SafetyPolicy, SerialOptions,
};
use fluxprint_gateway::printer::sim::{FirmwareFlavor, SimConfig};
use tempfile::NamedTempFile;

const MINIMAL: &str = r#"
[gateway]
id = "gw-test"

[[printers]]
id = "sim"
driver = "simulated"
build_volume = [200, 200, 200]
"#;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway.toml")
}

fn write_config(text: &str) -> NamedTempFile {
    let mut file = NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write config");
    file
}

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let file = write_config(text);
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    config::load_with_env(file.path(), env)
}

/// The problem lines for a file that must not load.
fn problems(text: &str) -> Vec<String> {
    problems_with_env(text, &[])
}

fn problems_with_env(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    match load_text(text, env) {
        Ok(config) => panic!("expected errors, loaded {config:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_has(lines: &[String], expected: &str) {
    assert!(
        lines.iter().any(|line| line.starts_with(expected)),
        "no line starts with {expected:?} in {lines:#?}"
    );
}

#[test]
fn the_shipped_example_loads_with_its_printers_and_the_documented_defaults() {
    let config = config::load_with_env(&example_path(), []).expect("example config is valid");
    assert_eq!(config.gateway.id, "gw-001");
    assert_eq!(config.gateway.state_dir, Path::new("/var/lib/fluxprint"));
    assert_eq!(config.gateway.log_level, "info");
    assert_eq!(
        config.web.listen,
        "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
    );
    assert!(config.web.api_key.is_none());
    assert!(config.web.public_status);
    assert!(!config.cloud.enabled);
    assert!(config.cloud.link.is_none());
    assert_eq!(config.cloud.downloads.max_bytes, 104_857_600);
    assert_eq!(config.cloud.downloads.extra_ca_file, None);
    assert_eq!(config.slicer, config::SlicerConfig::default());
    assert_eq!(config.printers.len(), 2);
    let mk3s = &config.printers[0];
    assert_eq!(mk3s.id.as_str(), "mk3s");
    assert!(!mk3s.auto_start);
    assert_eq!(
        (mk3s.build_volume.x_mm, mk3s.build_volume.z_mm),
        (250.0, 210.0)
    );
    match &mk3s.driver {
        DriverConfig::Serial { port, baud } => {
            assert!(port.starts_with("/dev/serial/by-id/"));
            assert_eq!(*baud, 115_200);
        }
        other => panic!("expected a serial driver, got {other:?}"),
    }
    assert!(matches!(
        config.printers[1].driver,
        DriverConfig::Simulated(_)
    ));
}

#[test]
fn omitted_keys_take_their_defaults() {
    let config = load_text(MINIMAL, &[]).expect("minimal config is valid");
    assert_eq!(
        config.gateway.state_dir,
        Path::new(config::DEFAULT_STATE_DIR)
    );
    assert_eq!(config.web.listen, config::DEFAULT_LISTEN);
    assert!(config.web.public_status);
    assert!(!config.cloud.enabled);
    assert_eq!(config.cloud.downloads, config::DownloadsConfig::default());
    assert!(!config.printers[0].auto_start);
}

#[test]
fn a_missing_file_is_one_line_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.toml");
    let errors = config::load_with_env(&path, []).expect_err("missing file");
    let text = errors.to_string();
    assert_eq!(errors.len(), 1);
    assert!(!text.contains('\n'));
    assert!(
        text.starts_with(&format!("cannot read config file {}: ", path.display())),
        "{text}"
    );
}

#[test]
fn broken_toml_is_one_line_naming_the_file_and_the_position() {
    let file = write_config("[gateway]\nid = \n");
    let errors = config::load_with_env(file.path(), []).expect_err("broken TOML");
    let text = errors.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.starts_with(&format!("{}: invalid TOML: ", file.path().display())),
        "{text}"
    );
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn unknown_keys_are_named_by_their_full_path() {
    let lines = problems(&format!("{MINIMAL}\n[web]\ncolour = \"blue\"\n"));
    assert_eq!(lines, ["web.colour: unknown key"]);
}

#[test]
fn a_wrong_type_names_the_printer_and_key() {
    let text =
        format!("{MINIMAL}\n[[printers]]\nid = \"mk3s\"\ndriver = \"serial\"\nbaud = \"fast\"\n");
    let lines = problems(&text);
    assert_has(&lines, "printers[1].baud: invalid type: string \"fast\"");
}

#[test]
fn a_bad_listen_address_is_named_with_its_value() {
    let lines = problems(&format!("{MINIMAL}\n[web]\nlisten = \"abc\"\n"));
    assert_has(&lines, "web.listen: invalid socket address \"abc\"");
}

#[test]
fn a_duplicate_printer_id_names_the_later_entry() {
    let printer =
        "\n[[printers]]\nid = \"mk3s\"\ndriver = \"simulated\"\nbuild_volume = [1, 1, 1]\n";
    let lines = problems(&format!("{MINIMAL}{printer}{printer}"));
    assert_eq!(lines, ["printers[2].id: duplicate printer id \"mk3s\""]);
}

#[test]
fn keys_of_another_driver_and_missing_driver_keys_are_errors() {
    let text = r#"
[gateway]
id = "gw"
[[printers]]
id = "op"
driver = "octoprint"
baud = 115200
url = "http://127.0.0.1:5000"
build_volume = [1, 1, 1]
[[printers]]
id = "usb"
driver = "serial"
baud = 12345
build_volume = [1, 1, 1]
[[printers]]
id = "what"
driver = "klipper"
build_volume = [1, 1, 1]
"#;
    let lines = problems(text);
    assert_has(
        &lines,
        "printers[0].baud: not used by the \"octoprint\" driver",
    );
    assert_has(
        &lines,
        "printers[0].api_key: missing (required by the \"octoprint\" driver)",
    );
    assert_has(
        &lines,
        "printers[1].port: missing (required by the \"serial\" driver)",
    );
    assert_has(&lines, "printers[1].baud: unsupported baud rate 12345");
    assert_has(&lines, "printers[2].driver: unknown driver \"klipper\"");
    assert_eq!(lines.len(), 5, "{lines:#?}");
}

#[test]
fn ids_must_be_topic_safe_and_paths_absolute() {
    let text = r#"
[gateway]
id = "gw/1 #"
state_dir = "relative/dir"
[[printers]]
id = ""
driver = "simulated"
build_volume = [1, 0, -5]
"#;
    let lines = problems(text);
    assert_has(&lines, "gateway.id: \"gw/1 #\" may only contain");
    assert_has(
        &lines,
        "gateway.state_dir: relative/dir is not an absolute path",
    );
    assert_has(&lines, "printers[0].id: must not be empty");
    assert_has(
        &lines,
        "printers[0].build_volume[1]: must be a positive number of mm, not 0",
    );
    assert_has(
        &lines,
        "printers[0].build_volume[2]: must be a positive number of mm, not -5",
    );
    assert_eq!(lines.len(), 5, "{lines:#?}");
}

#[test]
fn an_empty_file_asks_for_the_gateway_id_and_a_printer() {
    let lines = problems("");
    assert_eq!(
        lines,
        [
            "gateway.id: missing (required)",
            "printers: at least one [[printers]] entry is required",
        ]
    );
}

#[test]
fn an_enabled_cloud_needs_an_mqtts_url_and_readable_certificate_files() {
    let text = format!(
        "{MINIMAL}\n[cloud]\nenabled = true\nurl = \"mqtt://broker.example.com:1883\"\n\
         ca_file = \"/nonexistent/ca.pem\"\ncert_file = \"/\"\n"
    );
    let lines = problems(&text);
    assert_has(
        &lines,
        "cloud.url: URL scheme must be \"mqtts\", not \"mqtt\"",
    );
    assert_has(
        &lines,
        "cloud.ca_file: cannot read /nonexistent/ca.pem: No such file or directory",
    );
    assert_has(&lines, "cloud.cert_file: / is not a regular file");
    assert_has(&lines, "cloud.key_file: missing (required)");
    assert_eq!(lines.len(), 4, "{lines:#?}");
}

#[test]
fn an_unparsable_cloud_url_is_named() {
    let text = format!("{MINIMAL}\n[cloud]\nenabled = true\nurl = \"not a url\"\n");
    assert_has(&problems(&text), "cloud.url: invalid URL \"not a url\"");
}

#[test]
fn an_enabled_cloud_with_readable_files_yields_a_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [ca, cert, key] = ["ca.pem", "gw.pem", "gw.key"].map(|name| {
        let path = dir.path().join(name);
        std::fs::write(&path, "-----BEGIN TEST-----\n").expect("write file");
        path
    });
    let text = format!(
        "{MINIMAL}\n[cloud]\nenabled = true\nurl = \"mqtts://broker.example.com:8883\"\n\
         ca_file = {ca:?}\ncert_file = {cert:?}\nkey_file = {key:?}\n"
    );
    let config = load_text(&text, &[]).expect("valid cloud config");
    let link = config.cloud.link.expect("enabled cloud has a link");
    assert_eq!(link.url.host_str(), Some("broker.example.com"));
    assert_eq!(link.url.port(), Some(8883));
    assert_eq!(
        (link.ca_file, link.cert_file, link.key_file),
        (ca, cert, key)
    );
}

#[test]
fn download_limits_are_checked() {
    let text = format!(
        "{MINIMAL}\n[cloud.downloads]\nmax_bytes = 0\nextra_ca_file = \"/nonexistent/extra.pem\"\n\
         allow_hosts = [\"files.example.com\", \"bad host\"]\n"
    );
    let lines = problems(&text);
    assert_has(&lines, "cloud.downloads.max_bytes: must be greater than 0");
    assert_has(
        &lines,
        "cloud.downloads.extra_ca_file: cannot read /nonexistent/extra.pem",
    );
    assert_has(
        &lines,
        "cloud.downloads.allow_hosts[1]: invalid host name \"bad host\"",
    );
    assert_eq!(lines.len(), 3, "{lines:#?}");
}

#[test]
fn several_problems_print_as_one_line_each() {
    let text = "[gateway]\nid = \"\"\n[web]\nlisten = \"abc\"\ncolour = 1\n";
    let errors = load_text(text, &[]).expect_err("bad file");
    let first_stage = errors.to_string();
    assert_eq!(first_stage, "web.colour: unknown key");

    let text = "[gateway]\nid = \"\"\n[web]\nlisten = \"abc\"\n";
    let errors = load_text(text, &[]).expect_err("bad file");
    let display = errors.to_string();
    assert_eq!(display.lines().count(), errors.len());
    assert_eq!(errors.len(), 3, "{display}");
}

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
fn secrets_never_appear_in_debug_output() {
    let text = r#"
[gateway]
id = "gw"
[web]
api_key = "web-secret-0123456789"
[[printers]]
id = "op"
driver = "octoprint"
url = "http://127.0.0.1:5000"
api_key = "octo-secret-9876543210"
build_volume = [220, 220, 250]
"#;
    let config = load_text(text, &[]).expect("valid config");
    let debug = format!("{config:?}");
    assert!(!debug.contains("web-secret"), "{debug}");
    assert!(!debug.contains("octo-secret"), "{debug}");
    let key = config.web.api_key.as_ref().expect("api key set");
    assert_eq!(key.expose(), "web-secret-0123456789");
    match &config.printers[0].driver {
        DriverConfig::OctoPrint { api_key, .. } => {
            assert_eq!(api_key.expose(), "octo-secret-9876543210")
        }
        other => panic!("expected octoprint, got {other:?}"),
    }
}

#[test]
fn urls_with_embedded_credentials_are_rejected_so_debug_cannot_leak_them() {
    let text = r#"
[gateway]
id = "gw"
[[printers]]
id = "op"
driver = "octoprint"
url = "http://admin:hunter2@127.0.0.1:5000"
api_key = "key"
build_volume = [1, 1, 1]
"#;
    let lines = problems(text);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("printers[0].url: URL must not contain"),
        "{lines:?}"
    );
    assert!(!lines[0].contains("hunter2"), "{lines:?}");
}

fn simulator_of(config: &Config, index: usize) -> &SimConfig {
    match &config.printers[index].driver {
        DriverConfig::Simulated(sim) => sim,
        other => panic!("expected a simulated printer, got {other:?}"),
    }
}

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
fn a_slicer_command_must_be_an_executable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("prusa-slicer");
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ncommand = \"{}\"\n",
        missing.display()
    ));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "slicer.command: cannot read {}",
            missing.display()
        )),
        "{lines:?}"
    );
    std::fs::write(&missing, "#!/bin/sh\n").expect("write script");
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ncommand = \"{}\"\n",
        missing.display()
    ));
    assert_eq!(
        lines,
        [format!(
            "slicer.command: {} is not executable (chmod +x, or install the slicer: apt-get install prusa-slicer)",
            missing.display()
        )]
    );
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ncommand = \"no-such-slicer-here\"\n"
    ));
    assert_eq!(
        lines,
        [
            "slicer.command: \"no-such-slicer-here\" is not on PATH (give the full path, or install the slicer: apt-get install prusa-slicer)"
        ]
    );
}

#[test]
fn slicer_keys_are_read_from_the_file_and_the_environment_and_range_checked() {
    let text = format!("{MINIMAL}[slicer]\ncommand = \"/bin/sh\"\ntimeout_s = 30\n");
    let env = [("FLUXPRINT_SLICER__MAX_PARALLEL", "2")];
    let config = load_text(&text, &env).expect("valid slicer section");
    assert_eq!(config.slicer.command.as_deref(), Some(Path::new("/bin/sh")));
    assert_eq!(config.slicer.timeout, std::time::Duration::from_secs(30));
    assert_eq!(config.slicer.max_parallel, 2);
    assert_eq!(config.slicer.profiles_dir, None);
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ntimeout_s = 0\nmax_parallel = 17\nprofiles_dir = \"/no/such/dir\"\nspeed = 1\n"
    ));
    assert_eq!(lines, ["slicer.speed: unknown key"]);
    let lines = problems(&format!(
        "{MINIMAL}[slicer]\ntimeout_s = 0\nmax_parallel = 17\nprofiles_dir = \"/no/such/dir\"\n"
    ));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_has(
        &lines,
        "slicer.profiles_dir: /no/such/dir is not a readable directory",
    );
    assert_has(&lines, "slicer.timeout_s: must be in 1..=86400, not 0");
    assert_has(&lines, "slicer.max_parallel: must be in 1..=16, not 17");
}

#[test]
fn without_a_slicer_section_the_gateway_does_not_slice() {
    let config = load_text(MINIMAL, &[]).expect("minimal config is valid");
    assert_eq!(config.slicer, config::SlicerConfig::default());
    assert_eq!(config.slicer.command, None);
    assert_eq!(
        config.slicer.timeout.as_secs(),
        config::DEFAULT_SLICER_TIMEOUT_S
    );
    assert_eq!(
        config.slicer.max_parallel,
        config::DEFAULT_SLICER_MAX_PARALLEL
    );
}
