//! The actor's commands, carried out through Moonraker. A job's start is the long one: its
//! file is checked against the printer's safety caps and hashed in one pass, uploaded with
//! that hash (while the session goes on), then started with `printer.print.start`. The
//! only G-code the driver writes itself, heaters off after a cancel, passes the same caps.

use std::path::PathBuf;

use super::caps::KlipperSafety;
use super::http::{Http, HttpError};
use super::rpc::Call;
use super::task::{Asked, Driver, SessionEnd, Upload};
use super::track::remote_path;
use crate::domain::JobId;
use crate::printer::driver::{DriverCommand, Outcome};
use crate::printer::host::Offline;
use crate::printer::safety::{FileCheckError, Refusal, check_file_digest};

/// Sent after the gateway cancelled a job: Klipper's own `CANCEL_PRINT` (without a
/// `CANCEL_PRINT` macro of the printer's) leaves the heaters on.
pub const HEATERS_OFF: &[&str] = &["TURN_OFF_HEATERS"];

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Check(#[from] FileCheckError),
    #[error(transparent)]
    Upload(#[from] HttpError),
}

/// Why a recovery asked of this driver fails.
const NO_RECOVERY: &str = "a print on Klipper cannot be recovered from a journal";

impl Driver {
    pub async fn command(&mut self, command: DriverCommand) {
        match command {
            DriverCommand::Start { job, file, .. } => self.start(job, file),
            DriverCommand::Reattach { job } => {
                let path = remote_path(&self.settings.folder, job);
                self.tracker.reattach(job, path);
            }
            // Klipper prints from its own storage; the actor never asks this driver to recover
            // (its link does not say `recovers`), and a job asked anyway fails with the reason.
            DriverCommand::Recover { job, .. } => {
                let path = remote_path(&self.settings.folder, job);
                self.tracker.uploading(job, path);
                let steps = self.tracker.give_up(Outcome::Failed(NO_RECOVERY.into()));
                self.run_steps(steps).await;
            }
            DriverCommand::Pause if self.upload.is_some() => {
                tracing::warn!(printer = %self.settings.printer,
                    "the job is still uploading to Moonraker; it cannot pause yet");
            }
            DriverCommand::Pause => self.ask(Call::Pause, Asked::Control("pause the print")),
            DriverCommand::Resume => self.ask(Call::Resume, Asked::Control("resume the print")),
            DriverCommand::Cancel => match self.upload.take() {
                Some(_) => {
                    let steps = self.tracker.give_up(Outcome::Cancelled);
                    self.run_steps(steps).await;
                }
                None if self.tracker.cancel_waits() => {}
                None => self.ask(Call::Cancel, Asked::Cancel),
            },
            DriverCommand::EmergencyStop => {
                self.upload = None;
                let what = Asked::Control("stop the printer");
                self.queue.push_front((Call::EmergencyStop, what));
                let steps = self
                    .tracker
                    .give_up(Outcome::Failed("emergency stop".into()));
                self.run_steps(steps).await;
            }
        }
    }

    fn ask(&mut self, call: Call, asked: Asked) {
        self.queue.push_back((call, asked));
    }

    /// Starts checking and uploading the job's file; the session goes on meanwhile.
    fn start(&mut self, job: JobId, file: PathBuf) {
        let path = remote_path(&self.settings.folder, job);
        self.tracker.uploading(job, path.clone());
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        let (http, safety) = (self.http.clone(), self.settings.safety.clone());
        let folder = self.settings.folder.clone();
        let done = check_and_upload(http, safety, file, folder, name);
        self.upload = Some(Upload {
            job,
            done: Box::pin(done),
        });
    }

    /// The upload ended: start the print, or fail the job with the reason. A Moonraker
    /// out of reach also ends the session.
    pub async fn uploaded(
        &mut self,
        (job, result): (JobId, Result<(), StartError>),
    ) -> Result<(), SessionEnd> {
        if !self.tracker.is_tracking(job) {
            return Ok(());
        }
        let failed = |why: String| Outcome::Failed(why);
        match result {
            Ok(()) => {
                self.tracker.uploaded(job);
                let filename = remote_path(&self.settings.folder, job);
                self.ask(Call::Start { filename }, Asked::Start(job));
                Ok(())
            }
            Err(StartError::Upload(
                e
                @ (HttpError::Unreachable { .. } | HttpError::Unauthorized | HttpError::KeyNeeded),
            )) => {
                let why = failed(format!("could not upload the job's file to Moonraker: {e}"));
                let steps = self.tracker.give_up(why);
                self.run_steps(steps).await;
                Err(SessionEnd::Broken(e))
            }
            Err(e) => {
                let steps = self.tracker.give_up(failed(e.to_string()));
                self.run_steps(steps).await;
                Ok(())
            }
        }
    }

    /// `HEATERS_OFF` as one script, each line checked against the printer's caps.
    pub fn heaters_off(&self) -> Result<Call, Refusal> {
        checked_script(&self.settings.safety, HEATERS_OFF).map(|script| Call::Script { script })
    }
}

impl Offline for Driver {
    /// Between sessions: a job cannot start, a re-attached one is followed once Moonraker
    /// is back.
    async fn offline_command(&mut self, command: DriverCommand) {
        match command {
            DriverCommand::Start { job, .. } => {
                self.tracker
                    .uploading(job, remote_path(&self.settings.folder, job));
                let why = Outcome::Failed("Moonraker is unreachable".into());
                let steps = self.tracker.give_up(why);
                self.run_steps(steps).await;
            }
            DriverCommand::Reattach { job } => {
                let path = remote_path(&self.settings.folder, job);
                self.tracker.reattach(job, path);
            }
            other => {
                tracing::warn!(printer = %self.settings.printer, command = ?other,
                    "Moonraker is unreachable; command not carried out");
            }
        }
    }
}

/// The check and hash of the file, then its upload with that hash.
async fn check_and_upload(
    http: Http,
    safety: KlipperSafety,
    file: PathBuf,
    folder: String,
    name: String,
) -> Result<(), StartError> {
    let checked = check_file_digest(move |line| safety.check(line), file.clone()).await?;
    http.upload(&file, &folder, &name, checked).await?;
    Ok(())
}

/// `lines` as one `printer.gcode.script`, refused as a whole when one breaks the caps.
pub fn checked_script(safety: &KlipperSafety, lines: &[&str]) -> Result<String, Refusal> {
    for line in lines {
        safety.check(line)?;
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SafetyPolicy;

    #[test]
    fn scripts_the_driver_sends_pass_the_printers_caps_line_by_line() {
        let safety = KlipperSafety::from(&SafetyPolicy::default());
        assert_eq!(
            checked_script(&safety, HEATERS_OFF).unwrap(),
            "TURN_OFF_HEATERS"
        );
        assert_eq!(
            checked_script(&safety, &["M104 S0", "M140 S0"]).unwrap(),
            "M104 S0\nM140 S0"
        );
        assert!(checked_script(&safety, &["M104 S0", "M104 S900"]).is_err());
        assert!(checked_script(&safety, &["M500"]).is_err());
        let klipper = "SET_HEATER_TEMPERATURE HEATER=heater_bed TARGET=200";
        assert!(checked_script(&safety, &[klipper]).is_err());
    }
}
