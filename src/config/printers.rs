//! Validation of the `[[printers]]` entries: ids, drivers with their own keys, build volume,
//! and the option tables (checked in [`options`](super::options)).
//!
//! A raw printer carries every driver's keys; the chosen driver takes the ones it needs and
//! any key that belongs to another driver is an error, since it is almost always a mistake
//! (a serial `baud` left on a printer switched to OctoPrint or Moonraker).

use std::collections::HashSet;
use std::path::PathBuf;

use super::options;
use super::raw::RawPrinter;
use super::simulator::SimConfig;
use super::validate::{Problems, readable, required, secret, topic_safe, url_with_scheme};
use super::{BAUD_RATES, BuildVolume, DEFAULT_BAUD, DriverConfig, PrinterConfig, Problem};
use crate::domain::PrinterId;

/// The keys of a printer entry that only some drivers use.
struct DriverKeys {
    driver: Option<String>,
    port: Option<PathBuf>,
    baud: Option<u32>,
    url: Option<String>,
    api_key: Option<String>,
    delete_after_job: Option<bool>,
    ca_file: Option<PathBuf>,
    host: Option<String>,
    mqtt_port: Option<u64>,
    ftps_port: Option<u64>,
    access_code: Option<String>,
    /// A Bambu printer's `serial = "…"`.
    serial_number: Option<String>,
    /// Whether a `[printers.serial]` table is present; its values are checked on their own.
    serial: bool,
    simulator: Option<SimConfig>,
}

impl DriverKeys {
    /// Driver-specific keys that are set but not in `allowed`.
    fn foreign(&self, allowed: &[&str]) -> Vec<&'static str> {
        let present = [
            ("port", self.port.is_some()),
            ("baud", self.baud.is_some()),
            ("url", self.url.is_some()),
            ("api_key", self.api_key.is_some()),
            ("delete_after_job", self.delete_after_job.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("host", self.host.is_some()),
            ("mqtt_port", self.mqtt_port.is_some()),
            ("ftps_port", self.ftps_port.is_some()),
            ("access_code", self.access_code.is_some()),
            ("serial", self.serial || self.serial_number.is_some()),
            ("simulator", self.simulator.is_some()),
        ];
        present
            .into_iter()
            .filter(|(name, set)| *set && !allowed.contains(name))
            .map(|(name, _)| name)
            .collect()
    }
}

pub(crate) fn printers(
    raw: Vec<RawPrinter>,
    problems: &mut Problems,
) -> Option<Vec<PrinterConfig>> {
    if raw.is_empty() {
        problems.add("printers", Problem::NoPrinters);
        return None;
    }
    let mut seen = HashSet::new();
    let checked: Vec<Option<PrinterConfig>> = raw
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let key = format!("printers[{index}]");
            if let Some(id) = raw.id.as_ref().filter(|id| !seen.insert(id.to_string())) {
                let id = id.clone();
                problems.add(format!("{key}.id"), Problem::DuplicatePrinterId { id });
            }
            printer(&key, raw, problems)
        })
        .collect();
    checked.into_iter().collect()
}

fn printer(key: &str, raw: RawPrinter, problems: &mut Problems) -> Option<PrinterConfig> {
    let RawPrinter {
        id,
        driver,
        port,
        baud,
        url,
        api_key,
        delete_after_job,
        ca_file,
        host,
        mqtt_port,
        ftps_port,
        access_code,
        serial_number,
        build_volume: volume,
        auto_start,
        safety,
        serial,
        simulator,
    } = raw;
    let id = problems.check(&format!("{key}.id"), required(id).and_then(topic_safe));
    let safety = options::safety(&format!("{key}.safety"), safety, problems);
    let keys = DriverKeys {
        driver,
        port,
        baud,
        url,
        api_key,
        delete_after_job,
        ca_file,
        host,
        mqtt_port,
        ftps_port,
        access_code,
        serial_number,
        serial: serial.is_some(),
        simulator,
    };
    let driver = driver_config(key, keys, problems);
    let serial = options::serial(&format!("{key}.serial"), serial, safety.as_ref(), problems);
    let build_volume = build_volume(&format!("{key}.build_volume"), volume, problems);
    Some(PrinterConfig {
        id: PrinterId(id?),
        driver: driver?,
        build_volume: build_volume?,
        auto_start: auto_start.unwrap_or(false),
        safety: safety?,
        serial: serial?,
    })
}

/// The drivers a printer entry can name, with the keys each one takes.
#[derive(Debug, Clone, Copy)]
enum DriverKind {
    Serial,
    OctoPrint,
    Moonraker,
    Bambu,
    Simulated,
}

impl DriverKind {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "serial" => Some(Self::Serial),
            "octoprint" => Some(Self::OctoPrint),
            "moonraker" => Some(Self::Moonraker),
            "bambu" => Some(Self::Bambu),
            "simulated" => Some(Self::Simulated),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Serial => "serial",
            Self::OctoPrint => "octoprint",
            Self::Moonraker => "moonraker",
            Self::Bambu => "bambu",
            Self::Simulated => "simulated",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Serial => &["port", "baud", "serial"],
            Self::OctoPrint | Self::Moonraker => &["url", "api_key", "delete_after_job", "ca_file"],
            Self::Bambu => &[
                "host",
                "mqtt_port",
                "ftps_port",
                "serial",
                "access_code",
                "ca_file",
                "delete_after_job",
            ],
            Self::Simulated => &["serial", "simulator"],
        }
    }
}

fn driver_config(key: &str, mut keys: DriverKeys, problems: &mut Problems) -> Option<DriverConfig> {
    let name = problems.check(&format!("{key}.driver"), required(keys.driver.take()))?;
    let Some(kind) = DriverKind::from_name(&name) else {
        let problem = Problem::UnknownDriver { value: name };
        problems.add(format!("{key}.driver"), problem);
        return None;
    };
    let foreign = keys.foreign(kind.keys());
    for name in &foreign {
        let problem = Problem::NotForDriver {
            driver: kind.name(),
        };
        problems.add(format!("{key}.{name}"), problem);
    }
    // `serial` is a table of streaming options for most drivers, a Bambu printer's serial
    // number (a string) for "bambu": the other shape is a mistake.
    let serial_shape = match kind {
        DriverKind::Bambu if keys.serial => Some("a table"),
        DriverKind::Bambu => None,
        _ if keys.serial_number.is_some() => Some("a string"),
        _ => None,
    };
    if let Some(found) = serial_shape {
        let problem = match kind {
            DriverKind::Bambu => Problem::NotAString { found },
            _ => Problem::NotATable { found },
        };
        problems.add(format!("{key}.serial"), problem);
    }
    let config = match kind {
        DriverKind::Serial => serial(key, keys, problems),
        DriverKind::OctoPrint => octoprint(key, keys, problems),
        DriverKind::Moonraker => moonraker(key, keys, problems),
        DriverKind::Bambu => bambu(key, keys, problems),
        DriverKind::Simulated => {
            options::simulator(&format!("{key}.simulator"), keys.simulator, problems)
                .map(DriverConfig::Simulated)
        }
    };
    if foreign.is_empty() && serial_shape.is_none() {
        config
    } else {
        None
    }
}

fn serial(key: &str, keys: DriverKeys, problems: &mut Problems) -> Option<DriverConfig> {
    let for_serial = |value: Option<PathBuf>| {
        let port = value.ok_or(Problem::MissingForDriver { driver: "serial" })?;
        if port.as_os_str().is_empty() {
            Err(Problem::Empty)
        } else {
            Ok(port)
        }
    };
    let port = problems.check(&format!("{key}.port"), for_serial(keys.port));
    let baud = keys.baud.unwrap_or(DEFAULT_BAUD);
    let baud = problems.check(
        &format!("{key}.baud"),
        if BAUD_RATES.contains(&baud) {
            Ok(baud)
        } else {
            Err(Problem::BaudRate { baud })
        },
    );
    Some(DriverConfig::Serial {
        port: port?,
        baud: baud?,
    })
}

fn octoprint(key: &str, keys: DriverKeys, problems: &mut Problems) -> Option<DriverConfig> {
    let missing = || Problem::MissingForDriver {
        driver: "octoprint",
    };
    let url = keys.url.ok_or_else(missing).and_then(|url| host_url(&url));
    let url = problems.check(&format!("{key}.url"), url);
    let api_key = keys.api_key.ok_or_else(missing).and_then(secret);
    let api_key = problems.check(&format!("{key}.api_key"), api_key);
    let ca_file = ca_file(key, keys.ca_file, problems)?;
    Some(DriverConfig::OctoPrint {
        url: url?,
        api_key: api_key?,
        delete_after_job: keys.delete_after_job.unwrap_or(false),
        ca_file,
    })
}

/// Like OctoPrint's, except that the API key is optional: Moonraker may trust the
/// gateway's address (`trusted_clients`) instead.
fn moonraker(key: &str, keys: DriverKeys, problems: &mut Problems) -> Option<DriverConfig> {
    let missing = || Problem::MissingForDriver {
        driver: "moonraker",
    };
    let url = keys.url.ok_or_else(missing).and_then(|url| host_url(&url));
    let url = problems.check(&format!("{key}.url"), url);
    let api_key = match keys.api_key {
        Some(value) => Some(problems.check(&format!("{key}.api_key"), secret(value))?),
        None => None,
    };
    let ca_file = ca_file(key, keys.ca_file, problems)?;
    Some(DriverConfig::Moonraker {
        url: url?,
        api_key,
        delete_after_job: keys.delete_after_job.unwrap_or(false),
        ca_file,
    })
}

/// A Bambu printer in LAN mode: its address, ports, serial (its certificate's name), access
/// code and the CA that signs its certificate are all required but the ports.
fn bambu(key: &str, keys: DriverKeys, problems: &mut Problems) -> Option<DriverConfig> {
    let missing = || Problem::MissingForDriver { driver: "bambu" };
    let host = keys.host.ok_or_else(missing).and_then(host_name);
    let host = problems.check(&format!("{key}.host"), host);
    let mqtt_port = port(&format!("{key}.mqtt_port"), keys.mqtt_port, 8883, problems);
    let ftps_port = port(&format!("{key}.ftps_port"), keys.ftps_port, 990, problems);
    let serial = keys.serial_number.ok_or_else(missing);
    let serial = problems.check(&format!("{key}.serial"), serial.and_then(topic_safe));
    let access_code = keys.access_code.ok_or_else(missing).and_then(secret);
    let access_code = problems.check(&format!("{key}.access_code"), access_code);
    let ca_file = keys.ca_file.ok_or_else(missing).and_then(readable);
    let ca_file = problems.check(&format!("{key}.ca_file"), ca_file);
    Some(DriverConfig::Bambu {
        host: host?,
        mqtt_port: mqtt_port?,
        ftps_port: ftps_port?,
        serial: serial?,
        access_code: access_code?,
        ca_file: ca_file?,
        delete_after_job: keys.delete_after_job.unwrap_or(false),
    })
}

/// A host name or IP address, as written (no scheme, no port).
fn host_name(value: String) -> Result<String, Problem> {
    if value.is_empty() {
        return Err(Problem::Empty);
    }
    match url::Host::parse(&value) {
        Ok(_) => Ok(value),
        Err(source) => Err(Problem::Host { value, source }),
    }
}

/// A TCP port in 1..=65535, `default` when not set.
fn port(key: &str, value: Option<u64>, default: u16, problems: &mut Problems) -> Option<u16> {
    let value = value.unwrap_or(u64::from(default));
    let checked = u16::try_from(value)
        .ok()
        .filter(|port| *port > 0)
        .ok_or(Problem::OutOfRange {
            value,
            min: 1,
            max: 65_535,
        });
    problems.check(key, checked)
}

/// The printer host's base URL: `http://` or `https://`.
fn host_url(url: &str) -> Result<url::Url, Problem> {
    url_with_scheme(url, &["http", "https"], "\"http\" or \"https\"")
}

/// `Some(None)` without a `ca_file`, `None` after recording an unreadable one.
fn ca_file(key: &str, path: Option<PathBuf>, problems: &mut Problems) -> Option<Option<PathBuf>> {
    match path {
        Some(path) => Some(Some(
            problems.check(&format!("{key}.ca_file"), readable(path))?,
        )),
        None => Some(None),
    }
}

/// Three finite positive lengths; each bad one is reported with its index.
fn build_volume(key: &str, raw: Option<Vec<f64>>, problems: &mut Problems) -> Option<BuildVolume> {
    let lengths = problems.check(key, required(raw))?;
    let Ok([x_mm, y_mm, z_mm]) = <[f64; 3]>::try_from(lengths.as_slice()) else {
        let count = lengths.len();
        problems.add(key, Problem::BuildVolumeLength { count });
        return None;
    };
    let mut valid = true;
    for (index, value) in [x_mm, y_mm, z_mm].into_iter().enumerate() {
        if !(value.is_finite() && value > 0.0) {
            problems.add(
                format!("{key}[{index}]"),
                Problem::NotPositiveLength { value },
            );
            valid = false;
        }
    }
    valid.then_some(BuildVolume { x_mm, y_mm, z_mm })
}
