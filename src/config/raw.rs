//! The config file as written: serde structs that reject unknown keys, read section by
//! section from the merged TOML + environment tree.
//!
//! Optional keys are `Option` here; defaults and checks belong to validation. Each section
//! and each printer is read on its own so that one bad value does not hide the problems in
//! the others, and unknown keys are found by walking the tree against the structs' own field
//! lists, so every one of them is reported with its full path.

use std::path::PathBuf;

use config::{Map, Value, ValueKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::join_key;
use super::fields::field_names;
use super::simulator::SimConfig;
use super::{ConfigError, ConfigErrors, Problem};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub gateway: RawGateway,
    #[serde(default)]
    pub web: RawWeb,
    #[serde(default)]
    pub cloud: RawCloud,
    #[serde(default)]
    pub printers: Vec<RawPrinter>,
    #[serde(default)]
    pub slicer: RawSlicer,
    #[serde(default)]
    pub update: super::update::RawUpdate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    pub id: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub log_level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub listen: Option<String>,
    pub api_key: Option<String>,
    pub public_status: Option<bool>,
    pub max_upload_bytes: Option<u64>,
    pub rate_limit_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCloud {
    pub enabled: Option<bool>,
    pub url: Option<String>,
    /// Further brokers (cluster nodes) tried in order after `url`.
    pub fallback_urls: Option<Vec<String>>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub claim_cert_file: Option<PathBuf>,
    pub claim_key_file: Option<PathBuf>,
    pub mqtt_version: Option<u64>,
    pub keepalive_s: Option<u64>,
    pub telemetry_interval_s: Option<u64>,
    pub telemetry_printing_interval_s: Option<u64>,
    pub max_command_bytes: Option<u64>,
    pub outbox_max_events: Option<u64>,
    pub outbox_max_age_days: Option<u64>,
    pub renew_at_percent: Option<u64>,
    #[serde(default)]
    pub downloads: RawDownloads,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDownloads {
    pub max_bytes: Option<u64>,
    pub allow_hosts: Option<Vec<String>>,
    pub extra_ca_file: Option<PathBuf>,
    pub allow_http_hosts: Option<Vec<String>>,
    pub retry_budget_s: Option<u64>,
}

/// `[slicer]`: slicing STL/3MF jobs on the gateway.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlicer {
    pub command: Option<PathBuf>,
    pub profiles_dir: Option<PathBuf>,
    pub timeout_s: Option<u64>,
    pub max_parallel: Option<u64>,
}

/// One `[[printers]]` entry with every driver's keys; validation rejects the keys that do
/// not belong to the chosen driver.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrinter {
    pub id: Option<String>,
    pub driver: Option<String>,
    pub port: Option<PathBuf>,
    pub baud: Option<u32>,
    pub url: Option<String>,
    pub api_key: Option<String>,
    /// OctoPrint, Moonraker: delete the job's uploaded file from the host when the job ends.
    pub delete_after_job: Option<bool>,
    /// OctoPrint, Moonraker behind https: a PEM file of CAs trusted besides the system's;
    /// Bambu: the CA file that signs the printer's certificate (the only trust).
    pub ca_file: Option<PathBuf>,
    /// Bambu: the printer's address (its MQTT broker and FTPS server).
    pub host: Option<String>,
    /// Bambu: the printer's MQTT port (8883 unless set).
    pub mqtt_port: Option<u64>,
    /// Bambu: the printer's implicit-FTPS port (990 unless set).
    pub ftps_port: Option<u64>,
    /// Bambu: the LAN access code shown on the printer (a secret).
    pub access_code: Option<String>,
    /// Bambu: the printer's serial number, written `serial = "…"`. The key is shared with
    /// the `[printers.serial]` table, so `printers` takes a string out before the table is
    /// read, and it is never a key of its own.
    #[serde(skip)]
    pub serial_number: Option<String>,
    pub build_volume: Option<Vec<f64>>,
    pub auto_start: Option<bool>,
    pub safety: Option<RawSafety>,
    pub serial: Option<RawSerial>,
    /// The simulator's own settings struct: it already rejects unknown keys and brings its
    /// defaults, and its field list comes from its derive like ours.
    pub simulator: Option<SimConfig>,
}

/// `[printers.safety]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSafety {
    pub max_hotend_c: Option<f64>,
    pub max_bed_c: Option<f64>,
    pub blocked_commands: Option<Vec<String>>,
}

/// `[printers.serial]`. Sizes are read as `u64` so that an out-of-range number gets the
/// range in its message instead of a type error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSerial {
    pub flow_control: Option<String>,
    pub rx_buffer_bytes: Option<u64>,
    pub max_in_flight: Option<u64>,
    pub ok_timeout_s: Option<u64>,
    pub pause_script: Option<Vec<String>>,
    pub resume_script: Option<Vec<String>>,
    pub cancel_script: Option<Vec<String>>,
}

/// Reads the merged tree into raw structs, collecting every unknown key and bad value.
pub(crate) fn parse(mut root: Map<String, Value>) -> Result<RawConfig, ConfigErrors> {
    let mut errors = unknown_keys("", &root, field_names::<RawConfig>());
    let mut raw = RawConfig::default();
    if let Some(value) = root.remove("gateway") {
        raw.gateway = section("gateway", value, &[], &mut errors);
    }
    if let Some(value) = root.remove("web") {
        raw.web = section("web", value, &[], &mut errors);
    }
    if let Some(value) = root.remove("cloud") {
        let nested = [("downloads", field_names::<RawDownloads>())];
        raw.cloud = section("cloud", value, &nested, &mut errors);
    }
    if let Some(value) = root.remove("printers") {
        raw.printers = printers(value, &mut errors);
    }
    if let Some(value) = root.remove("slicer") {
        raw.slicer = section("slicer", value, &[], &mut errors);
    }
    if let Some(value) = root.remove("update") {
        raw.update = section("update", value, &[], &mut errors);
    }
    if errors.is_empty() {
        Ok(raw)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn printers(value: Value, errors: &mut Vec<ConfigError>) -> Vec<RawPrinter> {
    let nested = [
        ("safety", field_names::<RawSafety>()),
        ("serial", field_names::<RawSerial>()),
        ("simulator", field_names::<SimConfig>()),
    ];
    match value.into_array() {
        Ok(entries) => entries
            .into_iter()
            .enumerate()
            .map(|(index, mut entry)| {
                let serial_number = take_serial_number(&mut entry);
                let mut printer: RawPrinter =
                    section(&format!("printers[{index}]"), entry, &nested, errors);
                printer.serial_number = serial_number;
                printer
            })
            .collect(),
        Err(source) => {
            errors.push(ConfigError::from_value("printers", source));
            Vec::new()
        }
    }
}

/// A Bambu printer's `serial = "…"` (a string, where other drivers have a `[serial]`
/// table), taken out of the entry so that the table's struct never sees it.
fn take_serial_number(entry: &mut Value) -> Option<String> {
    let ValueKind::Table(table) = &mut entry.kind else {
        return None;
    };
    if !matches!(
        table.get("serial").map(|v| &v.kind),
        Some(ValueKind::String(_))
    ) {
        return None;
    }
    table.remove("serial").and_then(|v| v.into_string().ok())
}

/// Reads one table into `T`. `nested` names sub-tables with their own field lists, so their
/// unknown keys are reported too. On any problem the errors are recorded and the section's
/// default is returned, which validation never sees because loading stops after this stage.
fn section<T: DeserializeOwned + Default>(
    key: &str,
    value: Value,
    nested: &[(&str, &'static [&'static str])],
    errors: &mut Vec<ConfigError>,
) -> T {
    let ValueKind::Table(table) = &value.kind else {
        let found = kind_name(&value.kind);
        errors.push(ConfigError::invalid(key, Problem::NotATable { found }));
        return T::default();
    };
    let mut unknown = unknown_keys(key, table, field_names::<T>());
    for (name, fields) in nested {
        if let Some(ValueKind::Table(inner)) = table.get(*name).map(|value| &value.kind) {
            unknown.extend(unknown_keys(&join_key(key, name), inner, fields));
        }
    }
    if !unknown.is_empty() {
        errors.append(&mut unknown);
        return T::default();
    }
    T::deserialize(value).unwrap_or_else(|source| {
        errors.push(ConfigError::from_value(key, source));
        T::default()
    })
}

/// How a non-table value is described to the operator.
fn kind_name(kind: &ValueKind) -> &'static str {
    match kind {
        ValueKind::Nil => "nothing",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            "an integer"
        }
        ValueKind::Float(_) => "a float",
        ValueKind::String(_) => "a string",
        ValueKind::Array(_) => "an array",
        ValueKind::Table(_) => "a table",
    }
}

/// The keys of `table` that are not in `fields`, sorted so the report is stable.
fn unknown_keys(prefix: &str, table: &Map<String, Value>, fields: &[&str]) -> Vec<ConfigError> {
    let mut unknown: Vec<ConfigError> = table
        .iter()
        .filter(|(name, _)| !fields.contains(&name.as_str()))
        .map(|(name, value)| ConfigError::UnknownKey {
            key: join_key(prefix, name),
            origin: value.origin().map(str::to_owned),
        })
        .collect();
    unknown.sort_by_cached_key(ToString::to_string);
    unknown
}

#[cfg(test)]
mod tests {
    use super::parse;
    use config::{Config, File, FileFormat, Source};

    fn tree(toml: &str) -> config::Map<String, config::Value> {
        let config = Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()
            .expect("valid TOML");
        config.collect().expect("a table")
    }

    fn messages(toml: &str) -> Vec<String> {
        let errors = parse(tree(toml)).expect_err("the raw stage rejects this");
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_full_path() {
        let found = messages(
            "colour = 1\n[web]\ncolour = 2\n[cloud.downloads]\nmax = 3\n\
             [[printers]]\nid = \"a\"\n[[printers]]\nspeed = 4\n",
        );
        assert_eq!(
            found,
            [
                "colour: unknown key",
                "web.colour: unknown key",
                "cloud.downloads.max: unknown key",
                "printers[1].speed: unknown key",
            ]
        );
    }

    #[test]
    fn unknown_keys_inside_a_printers_tables_are_reported_with_their_full_path() {
        let found = messages(
            "[[printers]]\nid = \"a\"\n[printers.safety]\nmax_nozzle_c = 1\n\
             [printers.serial]\nbaud = 2\n[printers.simulator]\ncolour = 3\nspeed_up = 4.0\n",
        );
        assert_eq!(
            found,
            [
                "printers[0].safety.max_nozzle_c: unknown key",
                "printers[0].serial.baud: unknown key",
                "printers[0].simulator.colour: unknown key",
            ]
        );
    }

    #[test]
    fn a_wrong_type_inside_the_simulator_table_names_the_nested_key() {
        let found =
            messages("[[printers]]\nid = \"a\"\n[printers.simulator]\nspeed_up = \"fast\"\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("printers[0].simulator.speed_up: invalid type: string \"fast\""),
            "{found:?}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key_inside_its_printer() {
        let found = messages("[[printers]]\nid = \"a\"\n[[printers]]\nbaud = \"fast\"\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("printers[1].baud: invalid type: string \"fast\""),
            "{found:?}"
        );
    }

    #[test]
    fn wrong_types_in_different_sections_are_all_reported() {
        let found = messages("[web]\npublic_status = \"maybe\"\n[gateway]\nid = [1]\n");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("gateway.id: "), "{found:?}");
        assert!(found[1].starts_with("web.public_status: "), "{found:?}");
    }

    #[test]
    fn a_printers_table_instead_of_an_array_is_a_type_error_on_printers() {
        let found = messages("[printers]\nid = \"a\"\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("printers: invalid type"), "{found:?}");
    }

    #[test]
    fn a_section_that_is_not_a_table_says_what_it_found() {
        let found = messages("gateway = 5\nprinters = [\"mk3s\"]\n");
        assert_eq!(
            found,
            [
                "gateway: expected a table, found an integer",
                "printers[0]: expected a table, found a string",
            ]
        );
    }
}
