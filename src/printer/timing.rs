//! The job on a printer, timed: printing time with pauses left out, and the time left from
//! the file's progress table (`gcode::ProgressTable`) at the bytes done, corrected by the
//! printer's estimate accuracy factor. Every driver reports progress by file bytes (acknowledged
//! bytes on a port, the file position on a print host), so the percent maps onto the table's
//! byte offsets. Pure: the actor passes `Instant`s in.

use std::time::{Duration, Instant};

use super::status::Remaining;
use crate::domain::Percent;
use crate::gcode::ProgressTable;
use crate::jobs::{Accuracy, ActualTime};

/// Printing time and remaining time of the job on the printer.
#[derive(Debug, Clone)]
pub struct Tracking {
    /// Since when it has been printing (`None` while paused).
    since: Option<Instant>,
    /// Printing time before `since`.
    banked: Duration,
    /// Whether the whole print was timed here (not picked up after a restart).
    whole: bool,
    table: Option<ProgressTable>,
    factor: f64,
}

impl Tracking {
    /// A job that starts printing `now`.
    pub fn started(table: Option<ProgressTable>, accuracy: &Accuracy, now: Instant) -> Tracking {
        Tracking {
            since: Some(now),
            banked: Duration::ZERO,
            whole: true,
            table,
            factor: accuracy.factor,
        }
    }

    /// A job found on the printer after a restart, `printed` into its print (wall time since
    /// it started: pauses before the restart cannot be told apart).
    pub fn picked_up(
        table: Option<ProgressTable>,
        accuracy: &Accuracy,
        printed: Duration,
        paused: bool,
        now: Instant,
    ) -> Tracking {
        Tracking {
            since: (!paused).then_some(now),
            banked: printed,
            whole: false,
            table,
            factor: accuracy.factor,
        }
    }

    pub fn pause(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.banked += now.saturating_duration_since(since);
        }
    }

    pub fn resume(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    /// Seconds of printing so far, pauses left out.
    pub fn printing_s(&self, now: Instant) -> f64 {
        let running = self
            .since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        (self.banked + running).as_secs_f64()
    }

    /// Seconds left at `progress` (percent of the file's bytes), if the file was analysed.
    pub fn remaining(&self, progress: Percent, now: Instant) -> Option<Remaining> {
        let table = self.table.as_ref()?;
        let total_bytes = table.samples().last().map_or(0, |&(offset, _)| offset);
        let bytes = total_bytes * u64::from(progress.get()) / 100;
        let elapsed = self.printing_s(now);
        // With every estimate scaled by f, the observed ratio shrinks by f: the corrected
        // time left is f × the table's answer for elapsed / f.
        let corrected = self.factor * table.remaining_s(bytes, elapsed / self.factor);
        Some(Remaining {
            corrected_s: corrected.round() as u64,
            raw_s: table.remaining_s(bytes, elapsed).round() as u64,
        })
    }

    /// How long the job printed, for the accuracy figures.
    pub fn actual(&self, now: Instant) -> ActualTime {
        if self.whole {
            ActualTime::Printing(self.printing_s(now))
        } else {
            ActualTime::Wall
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ProgressTable {
        // 1000 bytes, 1000 s, evenly.
        ProgressTable::new(vec![(500, 500.0)], 1000, 1000.0)
    }

    fn accuracy(factor: f64) -> Accuracy {
        Accuracy {
            factor,
            ..Accuracy::default()
        }
    }

    #[test]
    fn paused_time_is_left_out_of_the_printing_time() {
        let t0 = Instant::now();
        let mut tracking = Tracking::started(None, &accuracy(1.0), t0);
        tracking.pause(t0 + Duration::from_secs(10));
        tracking.resume(t0 + Duration::from_secs(100));
        let at = t0 + Duration::from_secs(105);
        assert_eq!(tracking.printing_s(at), 15.0);
        assert_eq!(tracking.actual(at), ActualTime::Printing(15.0));
        assert_eq!(tracking.remaining(Percent::new(50), at), None);
    }

    #[test]
    fn remaining_time_follows_the_table_and_the_printers_factor() {
        let t0 = Instant::now();
        let on_time = Tracking::started(Some(table()), &accuracy(1.0), t0);
        let half = on_time.remaining(Percent::new(50), t0 + Duration::from_secs(500));
        assert_eq!(
            half,
            Some(Remaining {
                corrected_s: 500,
                raw_s: 500
            })
        );
        let slow_printer = Tracking::started(Some(table()), &accuracy(1.2), t0);
        let start = slow_printer.remaining(Percent::ZERO, t0).unwrap();
        assert_eq!((start.corrected_s, start.raw_s), (1200, 1000));
        // Running exactly as corrected: the correction stands.
        let later = slow_printer
            .remaining(Percent::new(50), t0 + Duration::from_secs(600))
            .unwrap();
        assert_eq!(later.corrected_s, 600);
    }

    #[test]
    fn a_job_picked_up_after_a_restart_reports_wall_time() {
        let t0 = Instant::now();
        let tracking = Tracking::picked_up(None, &accuracy(1.0), Duration::from_secs(60), true, t0);
        assert_eq!(tracking.printing_s(t0 + Duration::from_secs(30)), 60.0);
        assert_eq!(tracking.actual(t0), ActualTime::Wall);
    }
}
