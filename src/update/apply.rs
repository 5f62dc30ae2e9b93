//! The privileged helper (`fluxprint-gateway apply-update`), started by
//! `fluxprint-gateway-update.path` when the daemon leaves `request.json`: check the staged
//! binary's SHA-256 and release signature again (the helper is root, the update directory is
//! the daemon's), keep the running binary as `<binary>.previous` (next to it, where the
//! daemon cannot write), swap the staged one in, restart, wait for the new version's health
//! report, else put `previous` back and restart again, and write `outcome.json` for the
//! daemon that runs afterwards. It runs once per request and blocks (a oneshot unit).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::files::{self, Outcome, Request, UpdateFiles, UpdateFilesError, io_error};
use super::health::Health;
use crate::config::UpdateConfig;

/// How often the helper looks for the health report.
const HEALTH_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the staged binary does not match the signed release: {0}")]
    NotSigned(String),
    #[error(transparent)]
    Files(#[from] UpdateFilesError),
    #[error("restart command {command:?}: {reason}")]
    Restart {
        command: Vec<String>,
        reason: String,
    },
}

/// Applies the pending request, if any; returns its outcome (`None`: nothing to do).
pub fn run(state_dir: &Path, config: &UpdateConfig) -> Result<Option<Outcome>, ApplyError> {
    let files = UpdateFiles::new(state_dir);
    // A request left in `applying` means a helper died mid-way: the binary in place is not
    // known good, so the previous one goes back.
    if let Some(request) = files::read_json::<Request>(&files.applying())? {
        let reason = "the update helper was interrupted".to_owned();
        return roll_back(&files, config, request, reason).map(Some);
    }
    let Some(request) = files::read_json::<Request>(&files.request())? else {
        return Ok(None);
    };
    std::fs::rename(files.request(), files.applying())
        .map_err(|e| io_error(&files.applying(), e))?;
    tracing::info!(version = %request.version, "installing an update");
    if let Err(reason) = check_staged(&files, config, &request) {
        // Nothing was swapped: the running version stays and says why.
        let outcome = Outcome {
            reason: Some(reason.to_string()),
            stage: "rolled-back".into(),
            ..committed(request)
        };
        return finish(&files, outcome).map(Some);
    }
    install(&files.staged(), &config.binary, &previous(config))?;
    files::remove(&files.health())?;
    let healthy = restart(config).and_then(|()| wait_healthy(&files, config, &request));
    match healthy {
        Ok(()) => finish(&files, committed(request)).map(Some),
        Err(reason) => roll_back(&files, config, request, reason).map(Some),
    }
}

/// Where the running binary is kept for a rollback: next to it, out of the daemon's reach.
pub fn previous(config: &UpdateConfig) -> std::path::PathBuf {
    config.binary.with_extension("previous")
}

/// The staged file hashes to the request's SHA-256 and the release key signed that.
fn check_staged(
    files: &UpdateFiles,
    config: &UpdateConfig,
    request: &Request,
) -> Result<(), ApplyError> {
    use sha2::Digest;
    let bytes = std::fs::read(files.staged()).map_err(|e| io_error(&files.staged(), e))?;
    let actual = hex::encode(sha2::Sha256::digest(&bytes));
    if actual != request.sha256 {
        return Err(ApplyError::NotSigned(format!(
            "sha256 {actual}, signed {}",
            request.sha256
        )));
    }
    super::verify_signature(
        config.public_key.as_ref(),
        &request.sha256,
        &request.signature,
    )
    .map_err(|e| ApplyError::NotSigned(e.to_string()))
}

fn committed(request: Request) -> Outcome {
    Outcome {
        id: request.id,
        version: request.version,
        stage: "committed".into(),
        reason: None,
    }
}

/// Keeps `binary` as `previous`, then replaces it with `staged` by a rename in its own
/// directory (the running process keeps its old inode).
fn install(staged: &Path, binary: &Path, previous: &Path) -> Result<(), ApplyError> {
    std::fs::copy(binary, previous).map_err(|e| io_error(previous, e))?;
    replace(staged, binary)
}

fn replace(source: &Path, binary: &Path) -> Result<(), ApplyError> {
    let tmp = binary.with_extension("update-tmp");
    std::fs::copy(source, &tmp).map_err(|e| io_error(&tmp, e))?;
    set_executable(&tmp)?;
    std::fs::rename(&tmp, binary).map_err(|e| io_error(binary, e))?;
    Ok(())
}

fn set_executable(path: &Path) -> Result<(), ApplyError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io_error(path, e).into())
}

/// Runs the restart command; a failure is a reason to roll back.
fn restart(config: &UpdateConfig) -> Result<(), String> {
    let (program, args) = config
        .restart_command
        .split_first()
        .ok_or("no restart command")?;
    match Command::new(program).args(args).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("the restart command failed ({status})")),
        Err(e) => Err(format!("the restart command could not run: {e}")),
    }
}

/// Waits for `health.json` to name the requested version.
fn wait_healthy(
    files: &UpdateFiles,
    config: &UpdateConfig,
    request: &Request,
) -> Result<(), String> {
    let deadline = Instant::now() + config.health_timeout;
    while Instant::now() < deadline {
        if let Ok(Some(health)) = files::read_json::<Health>(&files.health())
            && health.version == request.version
        {
            return Ok(());
        }
        std::thread::sleep(HEALTH_POLL);
    }
    Err(format!(
        "version {} did not report healthy within {} s",
        request.version,
        config.health_timeout.as_secs()
    ))
}

/// Puts `previous` back and restarts it; the outcome says why.
fn roll_back(
    files: &UpdateFiles,
    config: &UpdateConfig,
    request: Request,
    reason: String,
) -> Result<Outcome, ApplyError> {
    tracing::warn!(version = %request.version, %reason, "rolling back an update");
    if previous(config).is_file() {
        replace(&previous(config), &config.binary)?;
    }
    let outcome = Outcome {
        id: request.id,
        version: request.version,
        stage: "rolled-back".into(),
        reason: Some(reason),
    };
    // The outcome is there before the old version starts, so it answers at once.
    files::write_json(&files.outcome(), &outcome)?;
    restart(config).map_err(|reason| ApplyError::Restart {
        command: config.restart_command.clone(),
        reason,
    })?;
    finish(files, outcome)
}

fn finish(files: &UpdateFiles, outcome: Outcome) -> Result<Outcome, ApplyError> {
    files::write_json(&files.outcome(), &outcome)?;
    files::remove(&files.applying())?;
    files::remove(&files.staged())?;
    tracing::info!(version = %outcome.version, stage = %outcome.stage, "update finished");
    Ok(outcome)
}
