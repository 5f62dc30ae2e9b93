//! TEMPORARY contract copy until the config branch merges (replaced wholesale).
use std::net::SocketAddr;
use std::path::PathBuf;
use crate::domain::PrinterId;
#[derive(Debug, Clone)]
pub struct Config { pub gateway: GatewayConfig, pub web: WebConfig, pub cloud: CloudConfig, pub printers: Vec<PrinterConfig> }
#[derive(Debug, Clone)]
pub struct GatewayConfig { pub id: String, pub state_dir: PathBuf, pub log_level: String }
#[derive(Debug, Clone)]
pub struct WebConfig { pub listen: SocketAddr, pub api_key: Option<Secret>, pub public_status: bool }
#[derive(Debug, Clone)]
pub struct CloudConfig { pub enabled: bool, pub link: Option<CloudLink>, pub downloads: DownloadsConfig }
#[derive(Debug, Clone)]
pub struct CloudLink { pub url: url::Url, pub ca_file: PathBuf, pub cert_file: PathBuf, pub key_file: PathBuf }
#[derive(Debug, Clone)]
pub struct DownloadsConfig { pub max_bytes: u64, pub allow_hosts: Vec<String>, pub extra_ca_file: Option<PathBuf>, pub allow_http_hosts: Vec<String> }
#[derive(Debug, Clone)]
pub struct PrinterConfig { pub id: PrinterId, pub driver: DriverConfig, pub build_volume: BuildVolume, pub auto_start: bool }
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildVolume { pub x_mm: f64, pub y_mm: f64, pub z_mm: f64 }
#[derive(Debug, Clone)]
pub enum DriverConfig { Serial { port: PathBuf, baud: u32 }, OctoPrint { url: url::Url, api_key: Secret }, Simulated }
#[derive(Clone)]
pub struct Secret(String);
impl std::fmt::Debug for Secret { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("***") } }
