//! The link as the Moonraker driver reports it: up, down, an external print, out of reach
//! while a job is tracked, or a Klippy fault — each report sent once, when it changes.

use super::super::state::LinkState;
use super::{Step, Tracker};
use crate::printer::ExternalPrint;
use crate::printer::driver::DriverReport;

/// The last link report sent, so that each is sent once.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shown {
    Connected,
    Disconnected(String),
    External(ExternalPrint),
    /// Moonraker (or Klippy) is out of reach while a job is tracked: the job stays.
    Unreachable(String),
    Fault(String),
}

impl Tracker {
    pub(super) fn sync_link(&mut self, steps: &mut Vec<Step>) {
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

    pub(super) fn show(&mut self, wanted: Shown, steps: &mut Vec<Step>) {
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
