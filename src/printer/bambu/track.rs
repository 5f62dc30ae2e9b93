//! The sans-IO core of the Bambu driver: snapshots of the printer's merged report and the
//! answers to the gateway's requests go in; driver reports come out. Like the OctoPrint
//! tracker it follows the gateway's one job, shows prints started on the printer's screen,
//! in Bambu Studio or from its cloud as external, and reports the link only when it changes.
//!
//! A print is the gateway's when the actor said so (`Start`, or `Reattach` after a restart)
//! and the printer's `subtask_name` is that job's name (`fluxprint-job-<id>`, given in
//! `project_file`): the name survives the printer's and the gateway's restarts. The job's
//! end is read from `gcode_state`: `FINISH` completed, `FAILED` failed (cancelled when the
//! gateway asked for the stop), `IDLE` with the job's name interrupted (the printer
//! restarted), another print's name interrupted too. `IDLE` with the job's name also ends a
//! job never seen printing when the link went down after its start request: the printer
//! took it and restarted before its first report reached the gateway.

use super::report::{GcodeState, Snapshot, error_text};
use crate::domain::JobId;
use crate::printer::ExternalPrint;
use crate::printer::driver::{DriverReport, Outcome};
use crate::printer::host::{HostJob, LinkState, Phase, Shown};

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Report(DriverReport),
    /// Delete the job's uploaded file from the printer (the job ended and the config says so).
    Delete {
        name: String,
    },
}

#[derive(Debug)]
struct Tracked {
    /// `Starting` once the start request went out (the file is on the printer); `Started`
    /// once the printer said yes to it: from then on its state is this print's (an ended
    /// print of the same name shown before is not, e.g. after the state directory was wiped
    /// and job ids began again); `Seen` once seen printing (until then the printer may
    /// still show the previous print).
    host: HostJob,
    /// The print's name on the printer (`subtask_name`) and its file's stem.
    name: String,
    /// The link went down after the start request and before the print was seen: the
    /// printer may have restarted with the answer and its first reports unsent, so a
    /// printer that comes back without this print printing has lost it.
    lost_starting: bool,
}

#[derive(Debug)]
pub struct Tracker {
    tracked: Option<Tracked>,
    external: Option<ExternalPrint>,
    /// Never a fault: the printer's errors end its print (`FAILED`, with HMS codes).
    link: LinkState,
    /// Why the printer refuses the gateway's commands (its authorization control), once it
    /// did: the printer is shown `monitor-only` until the gateway restarts, so that no job
    /// is sent to be refused again (turning on the printer's LAN developer mode and
    /// restarting the gateway clears it).
    refusal: Option<String>,
    shown: Shown,
    delete_after_job: bool,
    /// The file name on the printer of the job's upload, for `delete_after_job`.
    uploaded: Option<String>,
}

/// The name of `job`'s print on the printer (its `subtask_name`, its file's stem).
pub fn print_name(job: JobId) -> String {
    format!("fluxprint-job-{}", job.0)
}

impl Tracker {
    pub fn new(delete_after_job: bool) -> Tracker {
        Tracker {
            tracked: None,
            external: None,
            link: LinkState::Down("connecting to the printer".into()),
            refusal: None,
            shown: Shown::default(),
            delete_after_job,
            uploaded: None,
        }
    }

    /// Whether the printer refuses the gateway's commands.
    pub fn monitor_only(&self) -> bool {
        self.refusal.is_some()
    }

    /// The job now starting (`seen`: it was printing before a gateway restart).
    pub fn track(&mut self, job: JobId, seen: bool) {
        let name = print_name(job);
        if self.external.as_ref().is_some_and(|e| e.file == name) {
            self.external = None;
        }
        let phase = if seen { Phase::Seen } else { Phase::Uploading };
        self.tracked = Some(Tracked {
            host: HostJob::new(job, phase),
            name,
            lost_starting: false,
        });
    }

    /// Whether `snapshot` shows the tracked job on the printer (its start went through).
    pub fn is_seen_in(&self, snapshot: &Snapshot) -> bool {
        self.tracked
            .as_ref()
            .is_some_and(|t| snapshot.subtask.as_deref() == Some(&t.name))
            && snapshot.state.is_active()
    }

    /// The job's file is on the printer under `file`.
    pub fn uploaded(&mut self, file: String) {
        self.uploaded = Some(file);
        self.advance(Phase::Starting);
    }

    /// The printer accepted the request that starts the tracked job.
    pub fn start_accepted(&mut self) {
        self.advance(Phase::Started);
    }

    fn advance(&mut self, phase: Phase) {
        if let Some(t) = self.tracked.as_mut() {
            t.host.advance(phase);
        }
    }

    pub fn cancel_requested(&mut self) {
        if let Some(t) = self.tracked.as_mut() {
            t.host.cancel_requested();
        }
    }

    /// The tracked job could not start: it ends `failed` with `reason`.
    pub fn start_failed(&mut self, reason: String) -> Vec<Step> {
        let mut steps = Vec::new();
        self.finish(Outcome::Failed(reason), &mut steps);
        self.sync_link(&mut steps);
        steps
    }

    /// The printer refused a command for want of authorization: the link stays up for
    /// monitoring, a job that was starting fails with `reason`.
    pub fn refused(&mut self, reason: String) -> Vec<Step> {
        self.refusal = Some(reason.clone());
        let mut steps = Vec::new();
        if self.tracked.as_ref().is_some_and(|t| !t.host.is_seen()) {
            self.finish(Outcome::Failed(reason), &mut steps);
        }
        self.sync_link(&mut steps);
        steps
    }

    /// The broker cannot be reached: a tracked job stays tracked (it prints on).
    pub fn unreachable(&mut self, reason: String) -> Vec<Step> {
        self.link = LinkState::Down(reason);
        let requested = |t: &Tracked| matches!(t.host.phase, Phase::Starting | Phase::Started);
        if let Some(t) = self.tracked.as_mut().filter(|t| requested(t)) {
            t.lost_starting = true;
        }
        let mut steps = Vec::new();
        self.sync_link(&mut steps);
        steps
    }

    pub fn observe(&mut self, snapshot: Snapshot) -> Vec<Step> {
        let temperatures = self.shown.temperatures(snapshot.temperatures.clone());
        let mut steps: Vec<Step> = temperatures.map(Step::Report).into_iter().collect();
        self.link = LinkState::Up;
        let ours = self
            .tracked
            .as_ref()
            .map(|t| snapshot.subtask.as_deref() == Some(&t.name));
        match ours {
            Some(true) => self.follow(&snapshot, &mut steps),
            Some(false) if self.tracked.as_ref().is_some_and(|t| t.host.is_seen()) => {
                let job = self.tracked.as_ref().map(|t| t.host.id).unwrap_or(JobId(0));
                let why = format!(
                    "the printer no longer prints job {job} (it shows {:?})",
                    snapshot.subtask.as_deref().unwrap_or("no print")
                );
                self.finish(Outcome::Interrupted(why), &mut steps);
                self.external = external(&snapshot);
            }
            _ => self.external = external(&snapshot),
        }
        self.sync_link(&mut steps);
        steps
    }

    fn follow(&mut self, snapshot: &Snapshot, steps: &mut Vec<Step>) {
        self.external = None;
        let Some(t) = self.tracked.as_mut() else {
            return;
        };
        let job = t.host.id;
        let outcome = match &snapshot.state {
            // An ended print of this name from before the start (see `Tracked::host`).
            GcodeState::Finish | GcodeState::Failed if t.host.phase < Phase::Started => return,
            GcodeState::Finish => Outcome::Completed,
            GcodeState::Failed => {
                let why = error_text(snapshot.print_error, &snapshot.hms)
                    .unwrap_or_else(|| "no error code given".into());
                let why = format!("the printer reports the print of job {job} failed: {why}");
                t.host.failed(why)
            }
            GcodeState::Idle if t.host.is_seen() || t.lost_starting => {
                let why = format!("the printer is idle: job {job} ended without a result");
                Outcome::Interrupted(why)
            }
            GcodeState::Idle | GcodeState::Unknown(_) => return,
            GcodeState::Prepare | GcodeState::Slicing | GcodeState::Running | GcodeState::Pause => {
                let running = snapshot.state == GcodeState::Running;
                let paused = snapshot.state == GcodeState::Pause;
                let progress = snapshot.percent.filter(|_| running);
                let reports = t.host.running(Some(paused), progress);
                return steps.extend(reports.into_iter().map(Step::Report));
            }
        };
        self.finish(outcome, steps);
    }

    fn finish(&mut self, outcome: Outcome, steps: &mut Vec<Step>) {
        let Some(t) = self.tracked.take() else {
            return;
        };
        steps.push(Step::Report(t.host.finished(outcome)));
        if let Some(name) = self.uploaded.take().filter(|_| self.delete_after_job) {
            steps.push(Step::Delete { name });
        }
    }

    fn sync_link(&mut self, steps: &mut Vec<Step>) {
        let tracking = self.tracked.is_some();
        let (external, refusal) = (self.external.as_ref(), self.refusal.as_deref());
        let report = self.shown.link(&self.link, external, tracking, refusal);
        steps.extend(report.map(Step::Report));
    }
}

/// Someone else's print, while one is on the printer.
fn external(snapshot: &Snapshot) -> Option<ExternalPrint> {
    snapshot.state.is_active().then(|| ExternalPrint {
        file: (snapshot.subtask.clone())
            .or_else(|| snapshot.gcode_file.clone())
            .unwrap_or_else(|| "a print".into()),
        progress: snapshot.percent,
    })
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
