//! The validated, typed configuration that the rest of the gateway receives.
//!
//! Everything here has already been checked: addresses parse, files exist, ids are unique
//! and topic-safe. The structs are plain data with public fields so that tests and the
//! `demo` command can build one directly.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use super::Secret;
use super::simulator::SimConfig;
use crate::domain::PrinterId;

/// Where the database, stored files and generated API key live unless configured.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/fluxprint";
/// The log level unless configured (a level name; `RUST_LOG` takes `target=level` directives).
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// The LAN page and API address unless configured.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);
/// The largest job file the gateway downloads unless configured: 100 MB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 104_857_600;
/// The largest LAN upload unless configured: 100 MB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 104_857_600;
/// Control and upload requests per minute per client unless configured.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 10;
/// Serial speed unless configured; what Prusa and most Marlin boards use.
pub const DEFAULT_BAUD: u32 = 115_200;
/// Serial speeds a printer board can be configured with.
pub const BAUD_RATES: [u32; 11] = [
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 250_000, 460_800, 500_000, 921_600, 1_000_000,
];

/// The whole gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub web: WebConfig,
    pub cloud: CloudConfig,
    pub printers: Vec<PrinterConfig>,
    /// `[slicer]`; `command: None` when the gateway does not slice.
    pub slicer: super::SlicerConfig,
    /// `[update]`: remote updates (`gateway.update`) and the helper that applies them.
    pub update: super::UpdateConfig,
}

/// `[gateway]`: who this gateway is and where it keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// Also the MQTT client id, a topic segment and the client certificate's CN.
    pub id: String,
    pub state_dir: PathBuf,
    pub log_level: String,
}

impl GatewayConfig {
    /// A gateway with this id and the default state directory and log level.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            log_level: DEFAULT_LOG_LEVEL.to_owned(),
        }
    }
}

/// `[web]`: the LAN page and API.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// `None`: the gateway generates a key into its state directory.
    pub api_key: Option<Secret>,
    /// Whether the read-only page and status are open without the key.
    pub public_status: bool,
    /// The largest file an upload may carry.
    pub max_upload_bytes: u64,
    /// Control and upload requests per minute per client address; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            api_key: None,
            public_status: true,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
        }
    }
}

/// `[cloud]`: the MQTT link and job file downloads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CloudConfig {
    pub enabled: bool,
    /// `Some` exactly when `enabled`.
    pub link: Option<CloudLink>,
    pub downloads: DownloadsConfig,
    /// The claim to enroll with on first start (`cloud.claim_cert_file`/`claim_key_file`),
    /// used only while the enrolled identity in the state directory does not exist.
    pub claim: Option<super::ClaimFiles>,
}

/// Where the broker is and the files for mutual TLS with it.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudLink {
    /// Always an `mqtts://` URL with a host.
    pub url: url::Url,
    /// `cloud.fallback_urls`: other nodes of the same broker cluster (same checks as `url`),
    /// tried in order after `url` when a connection fails or is lost.
    pub fallback_urls: Vec<url::Url>,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The `cloud.*` link options other than where and who (`[cloud]` keys with defaults).
    pub options: super::cloud::LinkOptions,
}

/// `[cloud.downloads]`: limits on job files fetched by URL.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadsConfig {
    pub max_bytes: u64,
    /// Empty: any host; otherwise only these (normalized, lowercase).
    pub allow_hosts: Vec<String>,
    pub extra_ca_file: Option<PathBuf>,
    /// Hosts that may be fetched over plain HTTP; HTTPS everywhere else.
    pub allow_http_hosts: Vec<String>,
    /// `retry_budget_s`: transient trouble (network, 5xx, 429) is retried with jittered
    /// backoff until this long after the first attempt; then the job fails.
    pub retry_budget: std::time::Duration,
}

/// The default `cloud.downloads.retry_budget_s`: long enough for a whole fleet fetching from
/// one file server at once to get through (docs/fleet.md), short enough that a dead URL
/// fails its job the same hour.
pub const DEFAULT_DOWNLOAD_RETRY_BUDGET_S: u64 = 900;

impl Default for DownloadsConfig {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            allow_hosts: Vec::new(),
            extra_ca_file: None,
            allow_http_hosts: Vec::new(),
            retry_budget: std::time::Duration::from_secs(DEFAULT_DOWNLOAD_RETRY_BUDGET_S),
        }
    }
}

/// One `[[printers]]` entry.
#[derive(Debug, Clone)]
pub struct PrinterConfig {
    pub id: PrinterId,
    pub driver: DriverConfig,
    pub build_volume: BuildVolume,
    /// `true`: start the next job without waiting for a bed-clear confirmation.
    pub auto_start: bool,
    /// `[printers.safety]`, for every driver.
    pub safety: SafetyPolicy,
    /// `[printers.serial]`; the defaults on an OctoPrint or Moonraker printer, which never
    /// uses them.
    pub serial: SerialOptions,
}

/// The printable space in millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildVolume {
    pub x_mm: f64,
    pub y_mm: f64,
    pub z_mm: f64,
}

/// How the gateway talks to a printer, with what that way needs.
#[derive(Debug, Clone)]
pub enum DriverConfig {
    Serial {
        port: PathBuf,
        baud: u32,
    },
    OctoPrint {
        url: url::Url,
        api_key: Secret,
        /// Delete the job's uploaded file from OctoPrint when the job ends.
        delete_after_job: bool,
        /// For an `https://` OctoPrint: CAs (PEM) trusted besides the system's, for the REST
        /// API and the push websocket alike (e.g. OctoPi's self-made CA).
        ca_file: Option<PathBuf>,
    },
    /// A Klipper printer through its Moonraker.
    Moonraker {
        url: url::Url,
        /// Moonraker's API key; `None` when Moonraker trusts the gateway's address.
        api_key: Option<Secret>,
        /// Delete the job's uploaded file from Moonraker when the job ends.
        delete_after_job: bool,
        /// For an `https://` Moonraker: CAs (PEM) trusted besides the system's, for HTTP
        /// and the websocket alike.
        ca_file: Option<PathBuf>,
    },
    /// A Bambu Lab printer in LAN mode: its own MQTT broker (TLS) and implicit-FTPS server.
    Bambu {
        /// The printer's address.
        host: String,
        mqtt_port: u16,
        ftps_port: u16,
        /// The printer's serial number: the name its certificate must carry.
        serial: String,
        /// The LAN access code (MQTT password of `bblp`, FTPS password).
        access_code: Secret,
        /// The CAs (PEM) that sign the printer's certificate; the only ones trusted.
        ca_file: PathBuf,
        /// Delete the job's uploaded file from the printer when the job ends.
        delete_after_job: bool,
    },
    /// The built-in virtual printer, shaped by `[printers.simulator]`.
    Simulated(SimConfig),
}

impl DriverConfig {
    /// The config file's name for this driver (`driver = "…"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Serial { .. } => "serial",
            Self::OctoPrint { .. } => "octoprint",
            Self::Moonraker { .. } => "moonraker",
            Self::Bambu { .. } => "bambu",
            Self::Simulated(_) => "simulated",
        }
    }
}

/// Hotend cap unless configured: above what PTFE-lined hotends survive, below all-metal
/// maximums, so a typo such as `M104 S2100` never reaches the heater.
pub const DEFAULT_MAX_HOTEND_C: f64 = 285.0;
/// Bed cap unless configured.
pub const DEFAULT_MAX_BED_C: f64 = 120.0;
/// Commands refused unless configured: EEPROM save, EEPROM factory reset, firmware update.
/// A job file or a stranger's command must not change the printer's stored settings.
pub const DEFAULT_BLOCKED_COMMANDS: [&str; 3] = ["M500", "M502", "M997"];

/// `[printers.safety]`: limits the gateway enforces for every driver. Commands above the
/// caps or in the blocked list are refused before they reach the printer.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyPolicy {
    /// Highest hotend target accepted (`M104`/`M109`), °C.
    pub max_hotend_c: f64,
    /// Highest bed target accepted (`M140`/`M190`), °C.
    pub max_bed_c: f64,
    /// Command words never sent, uppercase with no leading zeros (`"M500"`).
    pub blocked_commands: Vec<String>,
}

impl Default for SafetyPolicy {
    fn default() -> Self {
        Self {
            max_hotend_c: DEFAULT_MAX_HOTEND_C,
            max_bed_c: DEFAULT_MAX_BED_C,
            blocked_commands: DEFAULT_BLOCKED_COMMANDS.map(str::to_owned).to_vec(),
        }
    }
}

impl SafetyPolicy {
    /// The blocked command `line` starts with, if any. Case, leading zeros and a parameter
    /// written without a space (`m0500S1`) do not hide it. `line` is G-code as in a file,
    /// without a line number.
    pub fn blocked_command(&self, line: &str) -> Option<&str> {
        let command = leading_command(line)?;
        self.blocked_commands
            .iter()
            .map(String::as_str)
            .find(|blocked| *blocked == command)
    }
}

/// The command a G-code line starts with, as firmware reads it: `"m0104S200"` → `"M104"`.
/// `None` when the line does not start with G, M or T and a number.
pub(crate) fn leading_command(line: &str) -> Option<String> {
    let line = line.trim_start();
    let letter = line.chars().next()?.to_ascii_uppercase();
    if !matches!(letter, 'G' | 'M' | 'T') {
        return None;
    }
    // The letter is ASCII, so the number starts at byte 1.
    let rest = &line[1..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let number: u32 = rest[..end].parse().ok()?;
    Some(format!("{letter}{number}"))
}

/// Serial receive buffer assumed unless configured (Marlin's `RX_BUFFER_SIZE`).
pub const DEFAULT_RX_BUFFER_BYTES: usize = 128;
/// Accepted `rx_buffer_bytes`: a line must fit, and no board has more than a few KiB.
pub const RX_BUFFER_BYTES_RANGE: RangeInclusive<usize> = 32..=4096;
/// Unacknowledged lines allowed unless configured (Marlin's `BUFSIZE`).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;
/// Accepted `max_in_flight`.
pub const MAX_IN_FLIGHT_RANGE: RangeInclusive<usize> = 1..=64;
/// Seconds without an `ok` (or a `busy:` keepalive) before the printer counts as gone.
pub const DEFAULT_OK_TIMEOUT_S: u64 = 30;
/// Accepted `ok_timeout_s`: long waits (`M109`, `G28`) send keepalives, so an hour is plenty.
pub const OK_TIMEOUT_S_RANGE: RangeInclusive<u64> = 1..=3600;
/// What a cancel sends unless configured: heaters off, part fan off, motors off.
pub const DEFAULT_CANCEL_SCRIPT: [&str; 4] = ["M104 S0", "M140 S0", "M107", "M84"];

/// `[printers.serial]`: how the gateway streams G-code over a serial line (the `serial`
/// and `simulated` drivers).
#[derive(Debug, Clone, PartialEq)]
pub struct SerialOptions {
    pub flow_control: FlowControlMode,
    /// Size of the firmware's receive buffer; windowed streaming never has more unacknowledged
    /// bytes than this on the wire.
    pub rx_buffer_bytes: usize,
    /// Most unacknowledged lines in windowed streaming (the firmware's command queue).
    pub max_in_flight: usize,
    /// Longest wait for an `ok`: only a command known to take long (homing, heating, …) on a
    /// firmware that sends no `busy:` keepalives waits this long; any other stall is settled
    /// in seconds (see `printer::serial::protocol`).
    pub ok_timeout_s: u64,
    /// Sent after a pause takes effect. Empty by default (as in OctoPrint): a retract and
    /// park move depends on the machine.
    pub pause_script: Vec<String>,
    /// Sent before a paused job continues.
    pub resume_script: Vec<String>,
    /// Sent after a job is cancelled.
    pub cancel_script: Vec<String>,
}

impl Default for SerialOptions {
    fn default() -> Self {
        Self {
            flow_control: FlowControlMode::Windowed,
            rx_buffer_bytes: DEFAULT_RX_BUFFER_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            ok_timeout_s: DEFAULT_OK_TIMEOUT_S,
            pause_script: Vec::new(),
            resume_script: Vec::new(),
            cancel_script: DEFAULT_CANCEL_SCRIPT.map(str::to_owned).to_vec(),
        }
    }
}

/// How many lines may wait for their `ok` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowControlMode {
    /// Several lines in flight, bounded by `max_in_flight` and `rx_buffer_bytes`: keeps the
    /// planner fed on long runs of short moves.
    #[default]
    Windowed,
    /// One line, then wait for its `ok`: slower, but safe with firmware that drops bytes.
    PingPong,
}

impl FlowControlMode {
    /// The config file's names, in the order they are listed to the operator.
    pub const NAMES: [&str; 2] = ["windowed", "ping-pong"];

    /// The mode a config value names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "windowed" => Some(Self::Windowed),
            "ping-pong" => Some(Self::PingPong),
            _ => None,
        }
    }

    /// The config file's name for this mode.
    pub fn name(self) -> &'static str {
        match self {
            Self::Windowed => "windowed",
            Self::PingPong => "ping-pong",
        }
    }
}
