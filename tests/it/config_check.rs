//! `config::load` against real files: the shipped example, and one bad file per kind of
//! mistake an operator makes, each of which must be reported on one line naming the key.
//! The cloud, environment, printer-option and slicer checks are in `config_check/`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fluxprint_gateway::config::{self, Config, ConfigErrors, DriverConfig};
use fluxprint_gateway::printer::sim::SimConfig;
use tempfile::NamedTempFile;

mod bambu;
mod cloud;
mod environment;
mod printer_options;
mod slicer;

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

fn simulator_of(config: &Config, index: usize) -> &SimConfig {
    match &config.printers[index].driver {
        DriverConfig::Simulated(sim) => sim,
        other => panic!("expected a simulated printer, got {other:?}"),
    }
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
fn a_log_level_is_a_level_name_as_run_needs_it() {
    // Directives belong in RUST_LOG: `run` refuses them at start, so check-config does too.
    let with = |level: &str| {
        MINIMAL.replace(
            "[gateway]\n",
            &format!("[gateway]\nlog_level = {level:?}\n"),
        )
    };
    let lines = problems(&with("info,fluxprint_gateway=debug"));
    assert_has(
        &lines,
        "gateway.log_level: invalid log level \"info,fluxprint_gateway=debug\": expected one of off, error, warn, info, debug, trace; RUST_LOG takes `target=level` directives",
    );
    let config = load_text(&with("DEBUG"), &[]).expect("a level name in any case");
    assert_eq!(config.gateway.log_level, "DEBUG");
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
