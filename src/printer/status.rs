//! What a printer's actor tells everyone else about it, and the pure rule that turns the
//! actor's facts (link, bed, job on the printer) into the one state people see.

use crate::domain::{JobId, Percent, PrinterId, PrinterState, Temperatures};
use crate::jobs::{Accuracy, BedState};

/// The link to the printer, as the driver last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Disconnected {
        reason: String,
    },
    Ready,
    /// Up, but busy with a print someone started outside the gateway.
    External(ExternalPrint),
    Fault {
        message: String,
    },
    /// Up, but the printer refuses the gateway's commands: state only, no jobs.
    MonitorOnly {
        reason: String,
    },
}

/// A print someone started on the printer outside the gateway (on its host's own page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalPrint {
    /// The file as the printer's host names it.
    pub file: String,
    pub progress: Option<Percent>,
}

/// The job on the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub job: JobId,
    pub progress: Percent,
    pub paused: bool,
    /// Seconds left, from the file's analysis; `None` when it was not analysed.
    pub remaining: Option<Remaining>,
}

/// Seconds left on the job on the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    /// Corrected by the printer's estimate accuracy factor.
    pub corrected_s: u64,
    /// From the analysis and the observed speed alone.
    pub raw_s: u64,
}

/// A snapshot for the page, the API and the cloud's `state`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterStatus {
    pub id: PrinterId,
    pub state: PrinterState,
    pub temperatures: Temperatures,
    pub current: Option<Current>,
    /// How well estimates matched this printer's completed jobs.
    pub accuracy: Accuracy,
    /// The print someone else started, while the printer shows `printing-external`.
    pub external: Option<ExternalPrint>,
}

/// The state shown for a printer. A job on the printer wins over everything (a paused
/// print stays "paused" even while the link is down); then faults, then the link (an external
/// print shows as `printing-external` whatever the bed); a printer
/// that is up and holding a finished part awaits the bed-clear confirmation unless its
/// config says `auto_start`.
pub fn derive_state(
    link: &Link,
    bed: BedState,
    current: Option<Current>,
    auto_start: bool,
) -> PrinterState {
    if let Some(current) = current {
        return if current.paused {
            PrinterState::Paused { job: current.job }
        } else {
            PrinterState::Printing { job: current.job }
        };
    }
    match (link, bed) {
        (Link::Fault { message }, _) => PrinterState::Error {
            message: message.clone(),
        },
        (Link::Disconnected { reason }, _) => PrinterState::Disconnected {
            reason: reason.clone(),
        },
        (Link::External(print), _) => PrinterState::PrintingExternal {
            file: print.file.clone(),
        },
        (Link::MonitorOnly { reason }, _) => PrinterState::MonitorOnly {
            reason: reason.clone(),
        },
        (Link::Ready, BedState::NeedsClearing { last_job }) if !auto_start => {
            PrinterState::AwaitingBedClear { last_job }
        }
        (Link::Ready, _) => PrinterState::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRTY: BedState = BedState::NeedsClearing {
        last_job: Some(JobId(7)),
    };

    #[test]
    fn a_ready_printer_with_a_part_on_the_bed_awaits_bed_clear() {
        assert_eq!(
            derive_state(&Link::Ready, DIRTY, None, false),
            PrinterState::AwaitingBedClear {
                last_job: Some(JobId(7))
            }
        );
    }

    #[test]
    fn auto_start_printers_skip_the_bed_clear_confirmation() {
        assert_eq!(
            derive_state(&Link::Ready, DIRTY, None, true),
            PrinterState::Idle
        );
    }

    #[test]
    fn a_job_on_the_printer_wins_over_a_broken_link() {
        let current = Current {
            job: JobId(3),
            progress: Percent::new(50),
            paused: true,
            remaining: None,
        };
        let link = Link::Disconnected {
            reason: "unplugged".into(),
        };
        assert_eq!(
            derive_state(&link, BedState::Clear, Some(current), false),
            PrinterState::Paused { job: JobId(3) }
        );
    }

    #[test]
    fn an_external_print_shows_whatever_the_bed_and_a_job_of_ours_wins_over_it() {
        let link = Link::External(ExternalPrint {
            file: "benchy.gcode".into(),
            progress: Some(Percent::new(42)),
        });
        let external = PrinterState::PrintingExternal {
            file: "benchy.gcode".into(),
        };
        assert_eq!(derive_state(&link, DIRTY, None, false), external);
        assert_eq!(derive_state(&link, BedState::Clear, None, true), external);
        let ours = Current {
            job: JobId(3),
            progress: Percent::new(5),
            paused: false,
            remaining: None,
        };
        assert_eq!(
            derive_state(&link, DIRTY, Some(ours), false),
            PrinterState::Printing { job: JobId(3) }
        );
    }

    #[test]
    fn a_fault_shows_as_error_even_with_a_dirty_bed() {
        let link = Link::Fault {
            message: "thermal runaway".into(),
        };
        assert_eq!(derive_state(&link, DIRTY, None, false).as_str(), "error");
    }
}
