//! The one job the gateway follows on a print host: which job, where it is on its way to
//! the printer, and the reports its host's states lead to — paused and resumed once each,
//! progress once per percent, its end with the outcome the host showed or recorded.

use crate::domain::{JobId, Percent};
use crate::printer::driver::{DriverReport, Outcome};

/// Where the job is on its way to the printer; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Being checked and uploaded: whatever the host shows is not this job (a file or print
    /// of the same name may be an older installation's).
    Uploading,
    /// On the host, the start asked for and not answered yet.
    Starting,
    /// The host accepted the start; the print shows in its next states.
    Started,
    /// Seen printing, or re-attached to after a gateway restart: when the host no longer
    /// shows it, it ended.
    Seen,
}

/// How the host recorded a print it no longer shows (a look-up after the fact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Completed,
    Cancelled,
    /// The host stopped the print (an error in the file, a shutdown, a failure).
    Failed(String),
    /// The print ended without the host seeing how (the host or its printer went away).
    Interrupted(String),
    /// Still running, or no record of it at all.
    Unknown,
}

#[derive(Debug)]
pub struct HostJob {
    pub id: JobId,
    pub phase: Phase,
    paused: bool,
    progress: Option<Percent>,
    /// The gateway asked for the print's stop: a failure the host reports is that stop.
    cancel_requested: bool,
}

impl HostJob {
    pub fn new(id: JobId, phase: Phase) -> HostJob {
        HostJob {
            id,
            phase,
            paused: false,
            progress: None,
            cancel_requested: false,
        }
    }

    /// The job moved on to `phase` (never back).
    pub fn advance(&mut self, phase: Phase) {
        self.phase = self.phase.max(phase);
    }

    pub fn is_seen(&self) -> bool {
        self.phase == Phase::Seen
    }

    pub fn cancel_requested(&mut self) {
        self.cancel_requested = true;
    }

    /// The print shows running (`paused`: `None` when the host's state says neither, as
    /// OctoPrint's long `Pausing`): the reports of what changed.
    pub fn running(
        &mut self,
        paused: Option<bool>,
        progress: Option<Percent>,
    ) -> Vec<DriverReport> {
        self.phase = Phase::Seen;
        let paused = paused.and_then(|paused| self.paused(paused));
        paused.into_iter().chain(self.progress(progress)).collect()
    }

    /// `Paused` or `Resumed`, when that changed.
    pub fn paused(&mut self, paused: bool) -> Option<DriverReport> {
        if self.paused == paused {
            return None;
        }
        self.paused = paused;
        let job = self.id;
        Some(match paused {
            true => DriverReport::Paused { job },
            false => DriverReport::Resumed { job },
        })
    }

    /// `Progress`, when the percent changed.
    pub fn progress(&mut self, progress: Option<Percent>) -> Option<DriverReport> {
        let progress = progress.filter(|p| self.progress != Some(*p))?;
        self.progress = Some(progress);
        Some(DriverReport::Progress {
            job: self.id,
            progress,
        })
    }

    /// The host reports the print failed for `why`: cancelled, when the gateway stopped it.
    pub fn failed(&self, why: String) -> Outcome {
        match self.cancel_requested {
            true => Outcome::Cancelled,
            false => Outcome::Failed(why),
        }
    }

    /// The outcome the host's record gives; `None` keeps waiting: without a record, a job
    /// not seen yet may still show (a look may be older than its start). A job seen and
    /// then forgotten without a record is interrupted for the reason `forgotten` gives.
    pub fn recorded(
        &self,
        record: Recorded,
        forgotten: impl FnOnce() -> String,
    ) -> Option<Outcome> {
        Some(match record {
            Recorded::Completed => Outcome::Completed,
            Recorded::Cancelled => Outcome::Cancelled,
            Recorded::Failed(why) => self.failed(why),
            Recorded::Interrupted(why) => Outcome::Interrupted(why),
            Recorded::Unknown if !self.is_seen() => return None,
            Recorded::Unknown => Outcome::Interrupted(forgotten()),
        })
    }

    /// The report of the job's end.
    pub fn finished(&self, outcome: Outcome) -> DriverReport {
        DriverReport::Finished {
            job: self.id,
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_only_moves_forward_and_running_means_seen() {
        let mut job = HostJob::new(JobId(1), Phase::Uploading);
        job.advance(Phase::Started);
        job.advance(Phase::Starting);
        assert_eq!(job.phase, Phase::Started);
        assert!(job.running(None, None).is_empty());
        assert!(job.is_seen());
    }

    #[test]
    fn running_reports_a_pause_change_then_a_new_percent_each_once() {
        let mut job = HostJob::new(JobId(2), Phase::Started);
        let at = |p| Some(Percent::new(p));
        assert_eq!(
            job.running(Some(true), at(5)),
            [
                DriverReport::Paused { job: JobId(2) },
                DriverReport::Progress {
                    job: JobId(2),
                    progress: Percent::new(5)
                }
            ]
        );
        assert!(job.running(Some(true), at(5)).is_empty());
        assert!(job.running(None, None).is_empty(), "no word on the pause");
        assert_eq!(
            job.running(Some(false), None),
            [DriverReport::Resumed { job: JobId(2) }]
        );
    }

    #[test]
    fn no_record_waits_until_the_job_was_seen_and_a_failure_after_a_cancel_is_the_cancel() {
        let mut job = HostJob::new(JobId(3), Phase::Started);
        let forgotten = || "forgotten".to_owned();
        assert_eq!(job.recorded(Recorded::Unknown, forgotten), None);
        job.advance(Phase::Seen);
        assert_eq!(
            job.recorded(Recorded::Unknown, forgotten),
            Some(Outcome::Interrupted("forgotten".into()))
        );
        let failed = Recorded::Failed("jam".into());
        assert_eq!(
            job.recorded(failed.clone(), forgotten),
            Some(Outcome::Failed("jam".into()))
        );
        job.cancel_requested();
        assert_eq!(job.recorded(failed, forgotten), Some(Outcome::Cancelled));
    }
}
