//! Configuration: one TOML file plus `FLUXPRINT_…` environment overrides, turned into a
//! typed, validated [`Config`].
//!
//! Config flows one way: the file and the environment are merged by the `config` crate,
//! read into raw serde structs that reject unknown keys ([`raw`]), then validated into the
//! typed structs ([`types`]) that the rest of the gateway receives. Every problem found is
//! reported, one line each, naming the key path (`printers[2].id: duplicate printer id
//! "mk3s"`). Secrets are held in [`Secret`], which never prints its value. The only I/O is
//! reading the file and checking that referenced certificate files can be opened.

mod cloud;
mod env;
mod error;
mod fields;
mod fleet;
mod options;
mod printers;
mod raw;
mod secret;
mod simulator;
mod slicer;
mod types;
mod update;
mod validate;

use std::path::Path;

use config::{File, FileFormat, Map, Source, Value};

pub use cloud::{LinkOptions, MAX_PACKET_BYTES, MqttVersion};
pub use env::ENV_PREFIX;
pub use error::{ConfigError, ConfigErrors, Problem};
pub use fleet::{ClaimFiles, IDENTITY_CERT, IDENTITY_DIR, IDENTITY_KEY, identity_files};
pub use secret::Secret;
pub use simulator::{FirmwareFlavor, SimConfig, SimConfigError};
pub use slicer::{
    DEFAULT_SLICER_MAX_PARALLEL, DEFAULT_SLICER_TIMEOUT_S, SLICER_MAX_PARALLEL_RANGE,
    SLICER_TIMEOUT_S_RANGE, SlicerConfig,
};
pub(crate) use types::leading_command;
pub use types::{
    BAUD_RATES, BuildVolume, CloudConfig, CloudLink, Config, DEFAULT_BAUD,
    DEFAULT_BLOCKED_COMMANDS, DEFAULT_CANCEL_SCRIPT, DEFAULT_DOWNLOAD_RETRY_BUDGET_S,
    DEFAULT_LISTEN, DEFAULT_LOG_LEVEL, DEFAULT_MAX_BED_C, DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_HOTEND_C, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_OK_TIMEOUT_S,
    DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_RX_BUFFER_BYTES, DEFAULT_STATE_DIR, DownloadsConfig,
    DriverConfig, FlowControlMode, GatewayConfig, MAX_IN_FLIGHT_RANGE, OK_TIMEOUT_S_RANGE,
    PrinterConfig, RX_BUFFER_BYTES_RANGE, SafetyPolicy, SerialOptions, WebConfig,
};
pub use update::{DEFAULT_HEALTH_TIMEOUT_S, UpdateConfig};

/// Loads `path` with overrides from this process's `FLUXPRINT_…` environment variables.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_env(path, env::process_env()?)
}

/// Loads `path` with overrides from `env` (name, value) pairs instead of the process
/// environment; pairs without the `FLUXPRINT_` prefix are ignored.
pub fn load_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let tree = merge(path, &text, env::EnvOverrides::new(env))?;
    let raw = raw::parse(tree)?;
    validate::validate(raw)
}

/// The file's TOML with the environment overrides laid over it, as one tree.
fn merge(
    path: &Path,
    text: &str,
    overrides: env::EnvOverrides,
) -> Result<Map<String, Value>, ConfigError> {
    let syntax = |source| ConfigError::Syntax {
        path: path.to_owned(),
        source,
    };
    let merged = config::Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .add_source(overrides)
        .build()
        .map_err(syntax)?;
    merged.collect().map_err(syntax)
}
