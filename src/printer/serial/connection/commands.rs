//! The actor's commands on one connection: start or recover a job (refused while another is
//! on the printer or the firmware is not ready), pause, resume, cancel, emergency stop, and
//! the re-attach a serial print cannot do.

use super::super::stream::ActiveJob;
use super::{Connection, Lost};
use crate::domain::JobId;
use crate::printer::driver::{DriverCommand, DriverReport, Outcome};

impl Connection<'_> {
    pub(super) fn on_command(&mut self, command: DriverCommand) -> Result<(), Lost> {
        let now = self.thread.now();
        let scripts = self.thread.settings.scripts.clone();
        let mut out = Vec::new();
        match command {
            DriverCommand::Start { job, file, .. } => {
                let opened = ActiveJob::open(job, &file);
                self.take_job(job, &file, opened);
            }
            DriverCommand::Recover {
                job,
                file,
                layer,
                prologue,
            } => {
                let opened = ActiveJob::resumed(job, &file, &layer, prologue);
                self.take_job(job, &file, opened);
            }
            DriverCommand::Pause => self.job.iter_mut().for_each(ActiveJob::pause),
            DriverCommand::Resume => {
                if let Some(job) = &mut self.job
                    && job.resume(&mut self.session, &scripts, now, &mut out)
                {
                    self.thread.report(DriverReport::Resumed { job: job.id });
                }
            }
            DriverCommand::Cancel => {
                if let Some(job) = &mut self.job {
                    job.end(
                        Outcome::Cancelled,
                        &mut self.session,
                        &scripts,
                        now,
                        &mut out,
                    );
                }
            }
            DriverCommand::EmergencyStop => {
                out.extend(self.session.send_now("M112"));
                if let Some(job) = self.job.take() {
                    let outcome = Outcome::Failed("emergency stop".into());
                    self.thread.report(DriverReport::Finished {
                        job: job.id,
                        outcome,
                    });
                }
            }
            // A serial print dies with the gateway: it cannot be followed after a restart.
            DriverCommand::Reattach { job } => {
                let reason = "the serial driver cannot re-attach to a print".to_owned();
                self.thread.report(DriverReport::Finished {
                    job,
                    outcome: Outcome::Interrupted(reason),
                });
            }
        }
        self.perform(out)
    }

    /// Puts a job (started or resumed) on the printer, or fails it with the reason.
    fn take_job(&mut self, job: JobId, file: &std::path::Path, opened: std::io::Result<ActiveJob>) {
        let refused = if self.job.is_some() {
            Some("another job is on the printer".to_owned())
        } else if !self.session.is_ready() {
            Some("the printer is not ready".to_owned())
        } else {
            match opened {
                Ok(active) => {
                    self.job = Some(active);
                    None
                }
                Err(e) => Some(format!("cannot read {}: {e}", file.display())),
            }
        };
        if let Some(reason) = refused {
            self.thread.report(DriverReport::Finished {
                job,
                outcome: Outcome::Failed(reason),
            });
        }
    }
}
