//! `[update]`: remote updates by `gateway.update` (issue #16). `public_key` is the operator's
//! release key (base64 of the 32-byte Ed25519 public key); without it every update is
//! refused. The other keys are for the privileged helper (`fluxprint-gateway apply-update`)
//! that swaps the binary in: which file it replaces, how it restarts the service, and how
//! long the new version has to report healthy before the previous one is put back.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::Problem;
use super::options::in_range;
use super::validate::Problems;

/// Seconds the new version has to report healthy unless configured.
pub const DEFAULT_HEALTH_TIMEOUT_S: u64 = 120;
/// Accepted `health_timeout_s`.
const HEALTH_TIMEOUT_S_RANGE: RangeInclusive<u64> = 1..=3600;
/// The installed binary the Debian package ships.
const DEFAULT_BINARY: &str = "/usr/bin/fluxprint-gateway";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpdate {
    pub public_key: Option<String>,
    pub binary: Option<PathBuf>,
    pub restart_command: Option<Vec<String>>,
    pub health_timeout_s: Option<u64>,
}

/// `[update]`, validated, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateConfig {
    /// The release key's 32 raw bytes; `None`: updates are refused.
    pub public_key: Option<[u8; 32]>,
    /// The binary the helper replaces.
    pub binary: PathBuf,
    /// What the helper runs to restart the daemon (program and arguments).
    pub restart_command: Vec<String>,
    /// How long the new version has to report healthy.
    pub health_timeout: Duration,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            public_key: None,
            binary: PathBuf::from(DEFAULT_BINARY),
            restart_command: ["systemctl", "restart", "fluxprint-gateway.service"]
                .map(String::from)
                .to_vec(),
            health_timeout: Duration::from_secs(DEFAULT_HEALTH_TIMEOUT_S),
        }
    }
}

pub(crate) fn update(raw: RawUpdate, problems: &mut Problems) -> Option<UpdateConfig> {
    let defaults = UpdateConfig::default();
    let public_key = match raw.public_key.filter(|k| !k.trim().is_empty()) {
        Some(key) => problems
            .check("update.public_key", public_key(&key))
            .map(Some),
        None => Some(None),
    };
    let restart_command = match raw.restart_command {
        Some(command) if command.first().is_none_or(String::is_empty) => {
            problems.add("update.restart_command", Problem::Empty);
            None
        }
        Some(command) => Some(command),
        None => Some(defaults.restart_command),
    };
    let timeout = problems.check(
        "update.health_timeout_s",
        in_range(
            raw.health_timeout_s.unwrap_or(DEFAULT_HEALTH_TIMEOUT_S),
            HEALTH_TIMEOUT_S_RANGE,
        ),
    );
    Some(UpdateConfig {
        public_key: public_key?,
        binary: raw.binary.unwrap_or(defaults.binary),
        restart_command: restart_command?,
        health_timeout: Duration::from_secs(timeout?),
    })
}

fn public_key(key: &str) -> Result<[u8; 32], Problem> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|e| Problem::PublicKey {
            reason: e.to_string(),
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Problem::PublicKey {
        reason: format!("{} bytes", bytes.len()),
    })
}
