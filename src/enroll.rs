//! `fluxprint-gateway enroll`: the command line around `cloud::enroll` — the claim from the
//! command line takes the place of `[cloud] claim_cert_file`/`claim_key_file`, then one
//! enrollment, then one connect with the new certificate to prove it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fluxprint_gateway::cloud::enroll::{self, Enrollment};
use fluxprint_gateway::config::{self, ClaimFiles, Config, ENV_PREFIX, identity_files};

use crate::{EXIT_CONFIG, fail};

/// Exit code when the cloud or the broker said no, or did not answer in time.
const EXIT_ENROLL: u8 = 1;

pub fn run(path: &Path, claim_cert: PathBuf, claim_key: PathBuf, timeout_s: u64) -> ExitCode {
    let config = match load(path, &claim_cert, &claim_key) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let Some(link) = config.cloud.link.as_ref() else {
        eprintln!(
            "error: cloud.enabled is false in {}: nothing to enroll for",
            path.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let state_dir = &config.gateway.state_dir;
    if link.cert_file != identity_files(state_dir).0 {
        eprintln!(
            "error: cloud.cert_file is set ({}): this gateway uses a certificate made by hand; \
             remove cloud.cert_file and cloud.key_file to use an enrolled one",
            link.cert_file.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let claim = ClaimFiles {
        cert_file: claim_cert,
        key_file: claim_key,
    };
    let patience = Duration::from_secs(timeout_s.max(1));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    let started = Instant::now();
    let result = runtime.block_on(async {
        let enrolled = enroll::enroll(&Enrollment {
            gateway_id: &config.gateway.id,
            link,
            claim: &claim,
            state_dir,
            patience,
        })
        .await?;
        enroll::confirm(link, &config.gateway.id, patience).await?;
        Ok::<_, enroll::EnrollError>(enrolled)
    });
    match result {
        Ok(enrolled) => {
            let state = if enrolled.fresh {
                "enrolled"
            } else {
                "already enrolled"
            };
            println!(
                "{state} as {}: certificate {} valid until {} (unix {}); connected with it \
                 (claim connect to own certificate connected: {} ms)",
                enrolled.issued.common_name,
                link.cert_file.display(),
                rfc3339(enrolled.issued.not_after),
                enrolled.issued.not_after,
                started.elapsed().as_millis(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            fail(&e);
            ExitCode::from(EXIT_ENROLL)
        }
    }
}

/// The config with the claim from the command line in place of the file's.
fn load(path: &Path, cert: &Path, key: &Path) -> Result<Config, ExitCode> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    for (name, file) in [("CLAIM_CERT_FILE", cert), ("CLAIM_KEY_FILE", key)] {
        let Some(file) = file.to_str() else {
            eprintln!("error: {} is not valid UTF-8", file.display());
            return Err(ExitCode::from(EXIT_CONFIG));
        };
        env.push((format!("{ENV_PREFIX}CLOUD__{name}"), file.to_owned()));
    }
    config::load_with_env(path, env).map_err(|errors| {
        for error in errors.iter() {
            eprintln!("error: {error}");
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
