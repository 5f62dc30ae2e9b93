//! Fleet lifecycle (issue #16) against a real mosquitto with the documented claim ACL and a
//! provisioning backend of the test's own (`backend`) signing with the per-run CA:
//! enrollment by claim (`enroll`).

mod config;
mod enroll;
mod renew;

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

use crate::common::mosquitto::{Broker, GATEWAY, Pki};

/// The batch claim certificate's CN: `:` keeps it out of the gateway id space.
pub const CLAIM: &str = "claim:batch-1";

/// A broker, the per-run PKI, a claim certificate and a config file for `gw-test` that uses
/// the enrolled identity.
pub struct Fleet {
    pub dir: TempDir,
    pub pki: Pki,
    pub broker: Broker,
    pub claim: (PathBuf, PathBuf),
    pub config_file: PathBuf,
    pub state_dir: PathBuf,
}

impl Fleet {
    pub fn start() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let claim = pki.issue(CLAIM);
        let broker = Broker::start(&pki, dir.path());
        let state_dir = dir.path().join("state");
        let config_file = dir.path().join("gateway.toml");
        write_config(&config_file, &state_dir, &pki, broker.port, "");
        Fleet {
            dir,
            pki,
            broker,
            claim,
            config_file,
            state_dir,
        }
    }

    /// `fluxprint-gateway enroll` with the claim, `timeout_s` for the answer.
    pub fn enroll_command(&self, timeout_s: u64) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"));
        command
            .arg("enroll")
            .arg("--config")
            .arg(&self.config_file)
            .arg("--claim-cert")
            .arg(&self.claim.0)
            .arg("--claim-key")
            .arg(&self.claim.1)
            .arg("--timeout-s")
            .arg(timeout_s.to_string())
            .kill_on_drop(true);
        command
    }

    pub async fn enroll(&self, timeout_s: u64) -> Output {
        self.enroll_command(timeout_s).output().await.unwrap()
    }

    pub fn identity(&self) -> (PathBuf, PathBuf) {
        fluxprint_gateway::config::identity_files(&self.state_dir)
    }
}

/// A config for `gw-test` with the cloud on and no `cert_file`/`key_file`; `extra` is added
/// to `[cloud]`.
pub fn write_config(file: &Path, state_dir: &Path, pki: &Pki, port: u16, extra: &str) {
    std::fs::write(
        file,
        format!(
            "[gateway]\nid = \"{GATEWAY}\"\nstate_dir = \"{state}\"\n\
             [web]\nlisten = \"127.0.0.1:0\"\n\
             [cloud]\nenabled = true\nurl = \"mqtts://127.0.0.1:{port}\"\nca_file = \"{ca}\"\n{extra}\n\
             [[printers]]\nid = \"sim\"\ndriver = \"simulated\"\nbuild_volume = [200, 200, 200]\n",
            state = state_dir.display(),
            ca = pki.ca.display(),
        ),
    )
    .unwrap();
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
