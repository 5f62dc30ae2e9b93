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
use crate::domain::{JobId, Percent, Temperatures};
use crate::printer::ExternalPrint;
use crate::printer::driver::{DriverReport, Outcome};

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

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Report(DriverReport),
    /// Look up how the job's print ended in OctoPrint's record of `path`, then call
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

/// The last link report sent, so that each is sent once.
#[derive(Debug, Clone, PartialEq)]
enum Shown {
    Connected,
    Disconnected(String),
    /// Someone else's print runs: the printer is busy.
    External(ExternalPrint),
    /// OctoPrint (or its printer) is out of reach while a job is tracked: the job stays.
    Unreachable(String),
    Fault(String),
}

#[derive(Debug)]
struct Tracked {
    job: JobId,
    path: String,
    /// Seen running on OctoPrint; until then an idle snapshot may simply be older than the
    /// start.
    seen: bool,
    paused: bool,
    progress: Option<Percent>,
    cancel_requested: bool,
    resolving: bool,
}

#[derive(Debug)]
pub struct Tracker {
    tracked: Option<Tracked>,
    /// A print someone started on OctoPrint outside the gateway.
    external: Option<ExternalPrint>,
    /// The file of the job that just ended, until OctoPrint is idle: its `Cancelling` or
    /// `Finishing` tail (after the event that ended the job) is not an external print.
    ended: Option<String>,
    /// The ended job's file to delete once OctoPrint is idle (a file still printing or
    /// cancelling is in use: OctoPrint refuses to delete it).
    to_delete: Option<String>,
    link: LinkState,
    shown: Option<Shown>,
    temperatures: Option<Temperatures>,
    delete_after_job: bool,
}

/// The path on OctoPrint of the file uploaded for `job`; each job has a file of its own, so
/// the file names the job after any restart.
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
            link: LinkState::Down("connecting to OctoPrint".into()),
            shown: None,
            temperatures: None,
            delete_after_job,
        }
    }

    /// The job now printing from `path` (just started by the gateway), or re-attached to
    /// after a restart (`seen`: it was running before).
    pub fn track(&mut self, job: JobId, path: String, seen: bool) {
        // A print of this file seen before the actor's `Reattach` arrived was ours all along.
        if self.external.as_ref().is_some_and(|e| e.file == path) {
            self.external = None;
        }
        self.tracked = Some(Tracked {
            job,
            path,
            seen,
            paused: false,
            progress: None,
            cancel_requested: false,
            resolving: false,
        });
    }

    pub fn cancel_requested(&mut self) {
        if let Some(t) = self.tracked.as_mut() {
            t.cancel_requested = true;
        }
    }

    /// The gateway could not start the tracked job: it ends `failed` with `reason`.
    pub fn start_failed(&mut self, reason: String) -> Vec<Step> {
        let mut steps = Vec::new();
        self.finish(Outcome::Failed(reason), &mut steps);
        steps
    }

    /// OctoPrint cannot be reached (or rejects the gateway): a tracked job stays tracked.
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
            .filter(|t| self.temperatures.as_ref() != Some(t))
        {
            self.temperatures = Some(temps.clone());
            steps.push(Step::Report(DriverReport::Temperatures(temps)));
        }
        let activity = snapshot.state.activity();
        self.link = snapshot.state.link(snapshot.error.as_deref());
        if matches!(activity, Activity::Idle)
            && let Some(path) = self.to_delete.take()
        {
            steps.push(Step::Delete { path });
        }
        if let LinkState::Fault(message) = &self.link {
            // The printer's error ends the print; the actor fails the job with the message.
            self.tracked = None;
            self.external = None;
            let message = message.clone();
            self.show(Shown::Fault(message), &mut steps);
            return steps;
        }
        let ours = self
            .tracked
            .as_ref()
            .map(|t| snapshot.file.as_deref() == Some(&t.path));
        match (ours, activity) {
            (Some(true), Activity::Idle) | (Some(false), _) => self.resolve(&mut steps),
            (Some(true), _) => self.follow(activity, snapshot.completion, &mut steps),
            (None, Activity::Idle) => {
                self.external = None;
                self.ended = None;
            }
            (None, _) if snapshot.file.is_some() && snapshot.file == self.ended => {}
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
                self.ended = None;
                self.external = Some(ExternalPrint {
                    file: path,
                    progress: None,
                });
            }
            self.sync_link(&mut steps);
            return steps;
        };
        let job = tracked.job;
        match event {
            PrintEvent::Started { .. } => tracked.seen = true,
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
        let Some(tracked) = self.tracked.as_mut().filter(|t| t.job == job) else {
            return steps;
        };
        tracked.resolving = false;
        let outcome = match last_success {
            Some(true) => Outcome::Completed,
            Some(false) if tracked.cancel_requested => Outcome::Cancelled,
            Some(false) => Outcome::Failed(format!(
                "OctoPrint recorded the print of job {job} as failed or cancelled"
            )),
            // Not started yet as far as this snapshot knows: keep waiting.
            None if !tracked.seen => return steps,
            None => Outcome::Interrupted(format!(
                "OctoPrint no longer prints job {job} and has no record of how it ended \
                 (OctoPrint or its printer restarted)"
            )),
        };
        self.finish(outcome, &mut steps);
        self.sync_link(&mut steps);
        steps
    }

    fn follow(&mut self, activity: Activity, completion: Option<f64>, steps: &mut Vec<Step>) {
        match activity {
            Activity::Paused => self.set_paused(true, steps),
            Activity::Running => self.set_paused(false, steps),
            // A long `Pausing` is normal: the printer finishes its planned moves first.
            Activity::Pausing | Activity::Idle => {}
        }
        let Some(t) = self.tracked.as_mut() else {
            return;
        };
        t.seen = true;
        let progress = progress_percent(completion);
        if let Some(progress) = progress.filter(|_| progress != t.progress) {
            t.progress = Some(progress);
            let job = t.job;
            steps.push(Step::Report(DriverReport::Progress { job, progress }));
        }
    }

    fn set_paused(&mut self, paused: bool, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.as_mut().filter(|t| t.paused != paused) else {
            return;
        };
        t.paused = paused;
        t.seen = true;
        let job = t.job;
        let report = if paused {
            DriverReport::Paused { job }
        } else {
            DriverReport::Resumed { job }
        };
        steps.push(Step::Report(report));
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
        if self.delete_after_job {
            self.to_delete = Some(t.path.clone());
        }
        self.ended = Some(t.path);
    }

    fn sync_link(&mut self, steps: &mut Vec<Step>) {
        let wanted = match (&self.link, &self.external) {
            (LinkState::Up, None) => Shown::Connected,
            (LinkState::Up, Some(print)) => Shown::External(print.clone()),
            (LinkState::Down(reason), _) if self.tracked.is_some() => {
                Shown::Unreachable(reason.clone())
            }
            (LinkState::Down(reason), _) => Shown::Disconnected(reason.clone()),
            (LinkState::Fault(message), _) => Shown::Fault(message.clone()),
        };
        self.show(wanted, steps);
    }

    fn show(&mut self, wanted: Shown, steps: &mut Vec<Step>) {
        if self.shown.as_ref() == Some(&wanted) {
            return;
        }
        let report = match &wanted {
            Shown::Connected => DriverReport::Connected,
            Shown::Disconnected(reason) => DriverReport::Disconnected {
                reason: reason.clone(),
            },
            Shown::External(print) => DriverReport::External {
                file: print.file.clone(),
                progress: print.progress,
            },
            Shown::Unreachable(reason) => DriverReport::Unreachable {
                reason: reason.clone(),
            },
            Shown::Fault(message) => DriverReport::Fault {
                message: message.clone(),
            },
        };
        self.shown = Some(wanted);
        steps.push(Step::Report(report));
    }
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
