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
use crate::domain::JobId;
use crate::printer::ExternalPrint;
use crate::printer::driver::Outcome;
use crate::printer::host::{Ended, FileJob, Phase, Shown};

pub use crate::printer::host::{Step, remote_path};

#[derive(Debug)]
struct Tracked {
    /// Until Klipper accepted the start, whatever it shows is not this job.
    file: FileJob,
    /// Cancelled while its start was not answered yet: cancel once it is.
    cancel_waits: bool,
}

#[derive(Debug)]
pub struct Tracker {
    tracked: Option<Tracked>,
    external: Option<ExternalPrint>,
    /// The job that just ended, until Klipper no longer prints it: a print the gateway gave
    /// up on (an emergency stop) may run on for a moment, and is not external.
    ended: Ended,
    link: LinkState,
    shown: Shown,
    /// The last snapshot, to look at again once a history look-up ended the tracked job.
    last: Option<Snapshot>,
}

impl Tracker {
    pub fn new(delete_after_job: bool) -> Tracker {
        Tracker {
            tracked: None,
            external: None,
            ended: Ended::new(delete_after_job),
            link: LinkState::Down("connecting to Moonraker".into()),
            shown: Shown::default(),
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
            file: FileJob::new(job, path, phase),
            cancel_waits: false,
        });
    }

    /// Whether `job` is still the tracked job (it may have ended while its file uploaded).
    pub fn is_tracking(&self, job: JobId) -> bool {
        self.tracked.as_ref().is_some_and(|t| t.file.host.id == job)
    }

    /// The tracked job's file is on Moonraker; its start is asked for.
    pub fn uploaded(&mut self, job: JobId) {
        self.advance(job, Phase::Starting);
    }

    /// Klipper accepted the start of the tracked job; true when a cancel waited for it.
    pub fn started(&mut self, job: JobId) -> bool {
        self.advance(job, Phase::Started);
        self.tracked
            .as_ref()
            .is_some_and(|t| t.file.host.id == job && t.cancel_waits)
    }

    /// A cancel for the tracked job: true when it must wait for Klipper's answer to the
    /// start (sent now, it could reach Klipper before the start does).
    pub fn cancel_waits(&mut self) -> bool {
        match self.tracked.as_mut() {
            Some(t) if t.file.host.phase == Phase::Starting => {
                t.cancel_waits = true;
                true
            }
            _ => false,
        }
    }

    fn advance(&mut self, job: JobId, phase: Phase) {
        if let Some(t) = self.tracked.as_mut().filter(|t| t.file.host.id == job) {
            t.file.host.advance(phase);
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

    /// Moonraker refused to delete the ended job's file (Klipper may still hold it for a
    /// moment): asked again when idle, a few times (false: given up).
    pub fn delete_refused(&mut self, path: String) -> bool {
        self.ended.delete_refused(path)
    }

    /// Moonraker cannot be reached (or rejects the gateway): a tracked job stays tracked.
    pub fn unreachable(&mut self, reason: String) -> Vec<Step> {
        self.link = LinkState::Down(reason);
        if let Some(t) = self.tracked.as_mut() {
            t.file.settled();
        }
        let mut steps = Vec::new();
        self.sync_link(&mut steps);
        steps
    }

    pub fn observe(&mut self, snapshot: Snapshot) -> Vec<Step> {
        let temperatures = self.shown.temperatures(snapshot.temperatures.clone());
        let mut steps: Vec<Step> = temperatures.map(Step::Report).into_iter().collect();
        let link = snapshot.klippy.link();
        if link == LinkState::Up && !snapshot.whole {
            // Klippy is ready, but what it prints is not read yet: a job of ours would look
            // gone, someone else's print absent. Wait for the whole look.
            return steps;
        }
        self.link = link;
        match &self.link {
            LinkState::Fault(_) => {
                // Klippy's shutdown ends the print; the actor fails the job with the message.
                self.tracked = None;
                self.external = None;
                self.sync_link(&mut steps);
                return steps;
            }
            // What Klipper said before is stale; a tracked job stays until Klippy is back.
            LinkState::Down(_) => {}
            LinkState::Up => {
                if !snapshot.job.is_running() {
                    steps.extend(self.ended.idle());
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
            .filter(|t| t.file.host.id == job && t.file.is_resolving())
        else {
            return Vec::new();
        };
        tracked.file.settled();
        let forgotten = || {
            format!(
                "Klipper no longer prints job {job} and Moonraker has no record of how it \
                 ended (Klippy or Moonraker restarted)"
            )
        };
        // Accepted but not shown yet as far as the last look knows: keep waiting.
        let Some(outcome) = tracked.file.host.recorded(recorded, forgotten) else {
            return Vec::new();
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
        let Some(tracked) = self.tracked.as_mut() else {
            let running = snapshot.job.is_running();
            if !running {
                self.ended.forget();
            }
            let ours = self.ended.is_tail(snapshot.file.as_deref());
            self.external = (running && !ours).then(|| ExternalPrint {
                file: snapshot.file.clone().unwrap_or_else(|| "a file".into()),
                progress: progress_percent(snapshot.progress),
            });
            return;
        };
        if tracked.file.host.phase < Phase::Started {
            return;
        }
        let job = tracked.file.host.id;
        if !tracked.file.is_shown(snapshot.file.as_deref()) {
            if tracked.file.host.is_seen() || snapshot.fresh {
                self.resolve(steps);
            }
            return;
        }
        let progress = progress_percent(snapshot.progress);
        let outcome = match &snapshot.job {
            JobState::Printing | JobState::Paused => {
                let paused = snapshot.job == JobState::Paused;
                let reports = tracked.file.host.running(Some(paused), progress);
                return steps.extend(reports.into_iter().map(Step::Report));
            }
            JobState::Complete => Outcome::Completed,
            JobState::Cancelled => Outcome::Cancelled,
            JobState::Error => {
                let why = snapshot.message.as_deref().unwrap_or("an error");
                Outcome::Failed(format!("Klipper stopped the print of job {job}: {why}"))
            }
            JobState::Standby | JobState::Unknown(_) => return self.resolve(steps),
        };
        self.finish(outcome, steps);
    }

    fn resolve(&mut self, steps: &mut Vec<Step>) {
        steps.extend(self.tracked.as_mut().and_then(|t| t.file.resolve()));
    }

    fn finish(&mut self, outcome: Outcome, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.take() else {
            return;
        };
        steps.push(Step::Report(t.file.host.finished(outcome)));
        // A job given up on while its file uploaded never printed: nothing of it to
        // delete or to tell from someone else's print.
        if t.file.host.phase != Phase::Uploading {
            self.ended.job_ended(t.file.path);
        }
    }

    fn sync_link(&mut self, steps: &mut Vec<Step>) {
        let tracking = self.tracked.is_some();
        let report = (self.shown).link(&self.link, self.external.as_ref(), tracking, None);
        steps.extend(report.map(Step::Report));
    }
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "track_property.rs"]
mod property;
