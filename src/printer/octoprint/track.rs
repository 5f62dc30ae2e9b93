//! The sans-IO core of the OctoPrint driver: what OctoPrint says (state snapshots from `current`
//! messages or polling, and events) goes in; driver reports and the few REST look-ups they
//! need come out. It follows the gateway's one job on OctoPrint, reports prints started by
//! someone else as external (the printer is busy until they end), and reports the link only
//! when it changes.
//!
//! A print is the gateway's only when the actor said so (`Start`, or `Reattach` after a
//! restart) and OctoPrint prints that job's own file (`<folder>/job-<id>.gcode`); anything
//! else, even an old upload of ours printed again by hand, is external.
//!
//! Snapshots arrive at most twice a second and skip short states, so a job's end is taken
//! from OctoPrint's events; when only snapshots are seen (polling, re-attaching after a
//! restart) an ended job's outcome is looked up in OctoPrint's print record of its file.

use super::state::{Activity, LinkState, OctoState, progress_percent};
use crate::domain::{JobId, Temperatures};
use crate::printer::ExternalPrint;
use crate::printer::driver::Outcome;
use crate::printer::host::{Ended, FileJob, Phase, Recorded, Shown};

pub use crate::printer::host::{Step, remote_path};

/// One look at OctoPrint's printer.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: OctoState,
    pub error: Option<String>,
    /// The selected file's path in OctoPrint's local storage.
    pub file: Option<String>,
    pub completion: Option<f64>,
    pub temperatures: Option<Temperatures>,
}

/// The OctoPrint events the driver acts on; `path` is the file's path in local storage.
#[derive(Debug, Clone, PartialEq)]
pub enum PrintEvent {
    Started { path: String },
    Paused { path: String },
    Resumed { path: String },
    Done { path: String },
    Cancelled { path: String },
    Failed { path: String, reason: String },
}

#[derive(Debug)]
pub struct Tracker {
    /// Until seen running on OctoPrint, an idle snapshot may simply be older than the start.
    tracked: Option<FileJob>,
    /// A print someone started on OctoPrint outside the gateway.
    external: Option<ExternalPrint>,
    /// The job that just ended, until OctoPrint is idle: its `Cancelling` or `Finishing`
    /// tail (after the event that ended the job) is not an external print, and its file
    /// is in use (OctoPrint refuses to delete it).
    ended: Ended,
    link: LinkState,
    shown: Shown,
}

impl Tracker {
    pub fn new(delete_after_job: bool) -> Tracker {
        Tracker {
            tracked: None,
            external: None,
            ended: Ended::new(delete_after_job),
            link: LinkState::Down("connecting to OctoPrint".into()),
            shown: Shown::default(),
        }
    }

    /// The job now printing from `path` (just started by the gateway: OctoPrint took it
    /// before the driver looks again), or re-attached to after a restart (`seen`: it was
    /// running before).
    pub fn track(&mut self, job: JobId, path: String, seen: bool) {
        // A print of this file seen before the actor's `Reattach` arrived was ours all along.
        if self.external.as_ref().is_some_and(|e| e.file == path) {
            self.external = None;
        }
        let phase = if seen { Phase::Seen } else { Phase::Started };
        self.tracked = Some(FileJob::new(job, path, phase));
    }

    pub fn cancel_requested(&mut self) {
        if let Some(t) = self.tracked.as_mut() {
            t.host.cancel_requested();
        }
    }

    /// The gateway could not start the tracked job: it ends `failed` with `reason`.
    pub fn start_failed(&mut self, reason: String) -> Vec<Step> {
        let mut steps = Vec::new();
        self.finish(Outcome::Failed(reason), &mut steps);
        steps
    }

    /// OctoPrint refused to delete the ended job's file (it may still hold it for a moment
    /// after a cancel): asked again when idle, a few times (false: given up).
    pub fn delete_refused(&mut self, path: String) -> bool {
        self.ended.delete_refused(path)
    }

    /// OctoPrint cannot be reached (or rejects the gateway): a tracked job stays tracked.
    pub fn unreachable(&mut self, reason: String) -> Vec<Step> {
        self.link = LinkState::Down(reason);
        if let Some(t) = self.tracked.as_mut() {
            t.settled();
        }
        let mut steps = Vec::new();
        self.sync_link(&mut steps);
        steps
    }

    pub fn observe(&mut self, snapshot: Snapshot) -> Vec<Step> {
        let mut steps: Vec<Step> = (self.shown.temperatures(snapshot.temperatures))
            .map(Step::Report)
            .into_iter()
            .collect();
        let activity = snapshot.state.activity();
        self.link = snapshot.state.link(snapshot.error.as_deref());
        if matches!(activity, Activity::Idle) {
            steps.extend(self.ended.idle());
        }
        if let LinkState::Fault(_) = &self.link {
            // The printer's error ends the print; the actor fails the job with the message.
            self.tracked = None;
            self.external = None;
            self.sync_link(&mut steps);
            return steps;
        }
        let ours = self
            .tracked
            .as_ref()
            .map(|t| t.is_shown(snapshot.file.as_deref()));
        match (ours, activity) {
            (Some(true), Activity::Idle) | (Some(false), _) => self.resolve(&mut steps),
            (Some(true), _) => self.follow(activity, snapshot.completion, &mut steps),
            (None, Activity::Idle) => {
                self.external = None;
                self.ended.forget();
            }
            (None, _) if self.ended.is_tail(snapshot.file.as_deref()) => {}
            (None, _) => {
                self.external = Some(ExternalPrint {
                    file: snapshot.file.unwrap_or_else(|| "a file".into()),
                    progress: progress_percent(snapshot.completion),
                });
            }
        }
        self.sync_link(&mut steps);
        steps
    }

    pub fn event(&mut self, event: PrintEvent) -> Vec<Step> {
        let mut steps = Vec::new();
        let path = match &event {
            PrintEvent::Started { path }
            | PrintEvent::Paused { path }
            | PrintEvent::Resumed { path }
            | PrintEvent::Done { path }
            | PrintEvent::Cancelled { path }
            | PrintEvent::Failed { path, .. } => path.clone(),
        };
        let Some(tracked) = self.tracked.as_mut().filter(|t| t.path == path) else {
            // Someone else's print. Its end (done, failed, cancelled) leaves the printer busy
            // until a snapshot shows OctoPrint idle: PrintCancelled comes before the cancel
            // script has run, and a job started then would be refused (409).
            if let PrintEvent::Started { .. } = event {
                self.ended.forget();
                self.external = Some(ExternalPrint {
                    file: path,
                    progress: None,
                });
            }
            self.sync_link(&mut steps);
            return steps;
        };
        let job = tracked.host.id;
        match event {
            PrintEvent::Started { .. } => tracked.host.advance(Phase::Seen),
            PrintEvent::Paused { .. } => self.set_paused(true, &mut steps),
            PrintEvent::Resumed { .. } => self.set_paused(false, &mut steps),
            PrintEvent::Done { .. } => self.finish(Outcome::Completed, &mut steps),
            PrintEvent::Cancelled { .. } => self.finish(Outcome::Cancelled, &mut steps),
            PrintEvent::Failed { reason, .. } if reason == "cancelled" => {
                self.finish(Outcome::Cancelled, &mut steps)
            }
            PrintEvent::Failed { reason, .. } => {
                let why = format!("OctoPrint reports the print of job {job} failed ({reason})");
                self.finish(Outcome::Failed(why), &mut steps)
            }
        }
        self.sync_link(&mut steps);
        steps
    }

    /// The answer to a [`Step::Resolve`]: OctoPrint's last print of the job's file
    /// succeeded (`Some(true)`), failed or was cancelled (`Some(false)`), or has no record.
    pub fn resolved(&mut self, job: JobId, last_success: Option<bool>) -> Vec<Step> {
        let mut steps = Vec::new();
        let Some(tracked) = self.tracked.as_mut().filter(|t| t.host.id == job) else {
            return steps;
        };
        tracked.settled();
        let recorded = match last_success {
            Some(true) => Recorded::Completed,
            Some(false) => Recorded::Failed(format!(
                "OctoPrint recorded the print of job {job} as failed or cancelled"
            )),
            None => Recorded::Unknown,
        };
        let forgotten = || {
            format!(
                "OctoPrint no longer prints job {job} and has no record of how it ended \
                 (OctoPrint or its printer restarted)"
            )
        };
        // Not started yet as far as this snapshot knows: keep waiting.
        let Some(outcome) = tracked.host.recorded(recorded, forgotten) else {
            return steps;
        };
        self.finish(outcome, &mut steps);
        self.sync_link(&mut steps);
        steps
    }

    fn follow(&mut self, activity: Activity, completion: Option<f64>, steps: &mut Vec<Step>) {
        let paused = match activity {
            Activity::Paused => Some(true),
            Activity::Running => Some(false),
            // A long `Pausing` is normal: the printer finishes its planned moves first.
            Activity::Pausing | Activity::Idle => None,
        };
        if let Some(t) = self.tracked.as_mut() {
            let reports = t.host.running(paused, progress_percent(completion));
            steps.extend(reports.into_iter().map(Step::Report));
        }
    }

    fn set_paused(&mut self, paused: bool, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.as_mut() else {
            return;
        };
        if let Some(report) = t.host.paused(paused) {
            t.host.advance(Phase::Seen);
            steps.push(Step::Report(report));
        }
    }

    fn resolve(&mut self, steps: &mut Vec<Step>) {
        steps.extend(self.tracked.as_mut().and_then(FileJob::resolve));
    }

    fn finish(&mut self, outcome: Outcome, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.take() else {
            return;
        };
        steps.push(Step::Report(t.host.finished(outcome)));
        self.ended.job_ended(t.path);
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
