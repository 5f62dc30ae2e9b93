//! The validated, typed configuration that the rest of the gateway receives.
//!
//! Everything here has already been checked: addresses parse, files exist, ids are unique
//! and topic-safe. The structs are plain data with public fields so that tests and the
//! `demo` command can build one directly.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::Secret;
use crate::domain::PrinterId;

/// Where the database, stored files and generated API key live unless configured.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/fluxprint";
/// The log filter unless configured (`tracing_subscriber::EnvFilter` syntax).
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// The LAN page and API address unless configured.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);
/// The largest job file the gateway downloads unless configured: 100 MB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 104_857_600;
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
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            api_key: None,
            public_status: true,
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
}

/// Where the broker is and the files for mutual TLS with it.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudLink {
    /// Always an `mqtts://` URL with a host.
    pub url: url::Url,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
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
}

impl Default for DownloadsConfig {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            allow_hosts: Vec::new(),
            extra_ca_file: None,
            allow_http_hosts: Vec::new(),
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
    Serial { port: PathBuf, baud: u32 },
    OctoPrint { url: url::Url, api_key: Secret },
    Simulated,
}

impl DriverConfig {
    /// The config file's name for this driver (`driver = "…"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Serial { .. } => "serial",
            Self::OctoPrint { .. } => "octoprint",
            Self::Simulated => "simulated",
        }
    }
}
