//! The sans-IO core of the Moonraker driver: snapshots of Klipper's objects go in; driver
//! reports and the few Moonraker requests they need (a history look-up, a file to delete)
//! come out. It follows the gateway's one job on the printer, reports prints started by
//! someone else as external (the printer is busy until they end), and reports the link
//! only when it changes.
//!
//! A print is the gateway's only when the actor said so (`Start`, or `Reattach` after a
//! restart) and Klipper prints that job's own file (`<folder>/job-<id>.gcode`); anything
//! else is external. `print_stats` keeps a finished print's file and end state until the
//! next print, so a job's end is read from it; only when Klipper no longer names the job's
//! file (Klippy restarted, another print started while the gateway was away) is the end
//! looked up in Moonraker's history.

use super::objects::Snapshot;
use super::state::{JobState, LinkState, Recorded, progress_percent};
use crate::domain::{JobId, Percent, Temperatures};
use crate::printer::ExternalPrint;
use crate::printer::driver::{DriverReport, Outcome};

mod link;

use link::Shown;

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Report(DriverReport),
    /// Look up how the job's print of `path` ended in Moonraker's history, then call
    /// [`Tracker::resolved`].
    Resolve {
        job: JobId,
        path: String,
    },
    /// Delete the job's uploaded file (the job ended and the config says so).
    Delete {
        path: String,
    },
}

/// Where the tracked job is on its way to the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Being checked and uploaded: whatever Klipper shows is not this job (a file of the
    /// same name may be an older installation's).
    Uploading,
    /// On Moonraker, the start asked for and not yet answered: still not this job.
    Starting,
    /// Klipper accepted the start; the print shows in the next whole look.
    Started,
    /// Seen printing (or re-attached to): when Klipper no longer shows it, it ended.
    Seen,
}

#[derive(Debug)]
struct Tracked {
    job: JobId,
    path: String,
    phase: Phase,
    paused: bool,
    progress: Option<Percent>,
    /// A history look-up is under way.
    resolving: bool,
    /// Cancelled while its start was not answered yet: cancel once it is.
    cancel_waits: bool,
}

#[derive(Debug)]
pub struct Tracker {
    tracked: Option<Tracked>,
    external: Option<ExternalPrint>,
    /// The file of the job that just ended, until Klipper no longer prints it: a print the
    /// gateway gave up on (an emergency stop) may run on for a moment, and is not external.
    ended: Option<String>,
    /// The ended job's file to delete once Klipper no longer prints it.
    to_delete: Option<String>,
    link: LinkState,
    shown: Option<Shown>,
    temperatures: Option<Temperatures>,
    delete_after_job: bool,
    /// The last snapshot, to look at again once a history look-up ended the tracked job.
    last: Option<Snapshot>,
}

/// The path under Moonraker's `gcodes` of the file uploaded for `job`; each job has a file
/// of its own, so the file names the job after any restart.
pub fn remote_path(folder: &str, job: JobId) -> String {
    format!("{folder}/job-{}.gcode", job.0)
}

impl Tracker {
    pub fn new(delete_after_job: bool) -> Tracker {
        Tracker {
            tracked: None,
            external: None,
            ended: None,
            to_delete: None,
            link: LinkState::Down("connecting to Moonraker".into()),
            shown: None,
            temperatures: None,
            delete_after_job,
            last: None,
        }
    }

    /// The gateway is about to upload and start `job` as `path`.
    pub fn uploading(&mut self, job: JobId, path: String) {
        self.track(job, path, Phase::Uploading);
    }

    /// After a restart: `job` was printing from `path`; follow it to its end.
    pub fn reattach(&mut self, job: JobId, path: String) {
        // A print of this file seen before the actor's `Reattach` arrived was ours all along.
        if self.external.as_ref().is_some_and(|e| e.file == path) {
            self.external = None;
        }
        self.track(job, path, Phase::Seen);
    }

    fn track(&mut self, job: JobId, path: String, phase: Phase) {
        self.tracked = Some(Tracked {
            job,
            path,
            phase,
            paused: false,
            progress: None,
            resolving: false,
            cancel_waits: false,
        });
    }

    /// Whether `job` is still the tracked job (it may have ended while its file uploaded).
    pub fn is_tracking(&self, job: JobId) -> bool {
        self.tracked.as_ref().is_some_and(|t| t.job == job)
    }

    /// The tracked job's file is on Moonraker; its start is asked for.
    pub fn uploaded(&mut self, job: JobId) {
        self.set_phase(job, Phase::Starting);
    }

    /// Klipper accepted the start of the tracked job; true when a cancel waited for it.
    pub fn started(&mut self, job: JobId) -> bool {
        self.set_phase(job, Phase::Started);
        self.tracked
            .as_ref()
            .is_some_and(|t| t.job == job && t.cancel_waits)
    }

    /// A cancel for the tracked job: true when it must wait for Klipper's answer to the
    /// start (sent now, it could reach Klipper before the start does).
    pub fn cancel_waits(&mut self) -> bool {
        match self.tracked.as_mut() {
            Some(t) if t.phase == Phase::Starting => {
                t.cancel_waits = true;
                true
            }
            _ => false,
        }
    }

    fn set_phase(&mut self, job: JobId, phase: Phase) {
        if let Some(t) = self.tracked.as_mut().filter(|t| t.job == job) {
            t.phase = phase;
        }
    }

    /// The tracked job ends without Klipper's word: it could not start, was cancelled
    /// before it did, or the printer was stopped.
    pub fn give_up(&mut self, outcome: Outcome) -> Vec<Step> {
        let mut steps = Vec::new();
        self.finish(outcome, &mut steps);
        self.look_again(&mut steps);
        steps
    }

    /// Moonraker cannot be reached (or rejects the gateway): a tracked job stays tracked.
    pub fn unreachable(&mut self, reason: String) -> Vec<Step> {
        self.link = LinkState::Down(reason);
        if let Some(t) = self.tracked.as_mut() {
            t.resolving = false;
        }
        let mut steps = Vec::new();
        self.sync_link(&mut steps);
        steps
    }

    pub fn observe(&mut self, snapshot: Snapshot) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(temps) = snapshot
            .temperatures
            .clone()
            .filter(|t| self.temperatures.as_ref() != Some(t))
        {
            self.temperatures = Some(temps.clone());
            steps.push(Step::Report(DriverReport::Temperatures(temps)));
        }
        let link = snapshot.klippy.link();
        if link == LinkState::Up && !snapshot.whole {
            // Klippy is ready, but what it prints is not read yet: a job of ours would look
            // gone, someone else's print absent. Wait for the whole look.
            return steps;
        }
        self.link = link;
        match &self.link {
            LinkState::Fault(message) => {
                // Klippy's shutdown ends the print; the actor fails the job with the message.
                let message = message.clone();
                self.tracked = None;
                self.external = None;
                self.show(Shown::Fault(message), &mut steps);
                return steps;
            }
            // What Klipper said before is stale; a tracked job stays until Klippy is back.
            LinkState::Down(_) => {}
            LinkState::Up => {
                if !snapshot.job.is_running()
                    && let Some(path) = self.to_delete.take()
                {
                    steps.push(Step::Delete { path });
                }
                self.follow(&snapshot, &mut steps);
                self.last = Some(snapshot);
            }
        }
        self.sync_link(&mut steps);
        steps
    }

    /// The answer to a [`Step::Resolve`]: how Moonraker's history recorded the job's print.
    pub fn resolved(&mut self, job: JobId, recorded: Recorded) -> Vec<Step> {
        // An answer nobody waits for any more (the link broke meanwhile) is not news.
        let Some(tracked) = self
            .tracked
            .as_mut()
            .filter(|t| t.job == job && t.resolving)
        else {
            return Vec::new();
        };
        tracked.resolving = false;
        let outcome = match recorded {
            Recorded::Completed => Outcome::Completed,
            Recorded::Cancelled => Outcome::Cancelled,
            Recorded::Failed(reason) => Outcome::Failed(reason),
            Recorded::Interrupted(reason) => Outcome::Interrupted(reason),
            // Accepted but not shown yet as far as the last look knows: keep waiting.
            Recorded::Unknown if tracked.phase != Phase::Seen => return Vec::new(),
            Recorded::Unknown => Outcome::Interrupted(format!(
                "Klipper no longer prints job {job} and Moonraker has no record of how it \
                 ended (Klippy or Moonraker restarted)"
            )),
        };
        let mut steps = Vec::new();
        self.finish(outcome, &mut steps);
        self.look_again(&mut steps);
        steps
    }

    /// After the tracked job ended: the last snapshot again, without it (the printer may
    /// be busy with someone else's print already).
    fn look_again(&mut self, steps: &mut Vec<Step>) {
        match self.last.take() {
            Some(last) => steps.extend(self.observe(last)),
            None => self.sync_link(steps),
        }
    }

    /// The print in `snapshot` against the tracked job (Klippy is ready).
    fn follow(&mut self, snapshot: &Snapshot, steps: &mut Vec<Step>) {
        let Some(tracked) = self.tracked.as_ref() else {
            let running = snapshot.job.is_running();
            if !running {
                self.ended = None;
            }
            let ours = snapshot.file.is_some() && snapshot.file == self.ended;
            self.external = (running && !ours).then(|| ExternalPrint {
                file: snapshot.file.clone().unwrap_or_else(|| "a file".into()),
                progress: progress_percent(snapshot.progress),
            });
            return;
        };
        if matches!(tracked.phase, Phase::Uploading | Phase::Starting) {
            return;
        }
        let job = tracked.job;
        if snapshot.file.as_deref() != Some(tracked.path.as_str()) {
            if tracked.phase == Phase::Seen || snapshot.fresh {
                self.resolve(steps);
            }
            return;
        }
        match &snapshot.job {
            JobState::Printing => self.running(false, snapshot.progress, steps),
            JobState::Paused => self.running(true, snapshot.progress, steps),
            JobState::Complete => self.finish(Outcome::Completed, steps),
            JobState::Cancelled => self.finish(Outcome::Cancelled, steps),
            JobState::Error => {
                let why = snapshot.message.as_deref().unwrap_or("an error");
                let reason = format!("Klipper stopped the print of job {job}: {why}");
                self.finish(Outcome::Failed(reason), steps)
            }
            JobState::Standby | JobState::Unknown(_) => self.resolve(steps),
        }
    }

    fn running(&mut self, paused: bool, progress: Option<f64>, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.as_mut() else {
            return;
        };
        t.phase = Phase::Seen;
        if t.paused != paused {
            t.paused = paused;
            let job = t.job;
            steps.push(Step::Report(if paused {
                DriverReport::Paused { job }
            } else {
                DriverReport::Resumed { job }
            }));
        }
        let progress = progress_percent(progress);
        if let Some(progress) = progress.filter(|_| progress != t.progress) {
            t.progress = Some(progress);
            let job = t.job;
            steps.push(Step::Report(DriverReport::Progress { job, progress }));
        }
    }

    fn resolve(&mut self, steps: &mut Vec<Step>) {
        if let Some(t) = self.tracked.as_mut().filter(|t| !t.resolving) {
            t.resolving = true;
            let (job, path) = (t.job, t.path.clone());
            steps.push(Step::Resolve { job, path });
        }
    }

    fn finish(&mut self, outcome: Outcome, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.take() else {
            return;
        };
        steps.push(Step::Report(DriverReport::Finished {
            job: t.job,
            outcome,
        }));
        // A job given up on while its file uploaded never printed: nothing of it to
        // delete or to tell from someone else's print.
        if t.phase != Phase::Uploading {
            if self.delete_after_job {
                self.to_delete = Some(t.path.clone());
            }
            self.ended = Some(t.path);
        }
    }
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "track_property.rs"]
mod property;
