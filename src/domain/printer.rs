//! What state a printer is in, as people and the scheduler see it.

use super::JobId;

/// One heater's reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature {
    pub actual_c: f64,
    /// `None` when the firmware does not report a target (or it is off).
    pub target_c: Option<f64>,
}

/// The heaters of one printer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Temperatures {
    pub hotends: Vec<Temperature>,
    pub bed: Option<Temperature>,
}

/// A printer's state. The bed-clear interlock is part of the state: a printer whose bed
/// holds a finished (or failed) part is not idle, whatever its firmware says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterState {
    /// No link to the printer (unplugged, OctoPrint down, not opened yet).
    Disconnected {
        reason: String,
    },
    Idle,
    Printing {
        job: JobId,
    },
    Paused {
        job: JobId,
    },
    /// Someone started a print on the printer outside the gateway (on OctoPrint's own page):
    /// the printer is busy with `file` and takes no job until that print ends.
    PrintingExternal {
        file: String,
    },
    /// A job (or an external print) ended on this printer; someone must confirm the bed is
    /// clear. `last_job` is `None` after an external print.
    AwaitingBedClear {
        last_job: Option<JobId>,
    },
    /// The printer shows its state but refuses the gateway's commands (a Bambu printer's
    /// authorization control without its LAN developer mode): it takes no job.
    MonitorOnly {
        reason: String,
    },
    /// The firmware reported a fault (thermal runaway, kill, …) and needs a person.
    Error {
        message: String,
    },
}

impl PrinterState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PrinterState::Disconnected { .. } => "disconnected",
            PrinterState::Idle => "idle",
            PrinterState::Printing { .. } => "printing",
            PrinterState::Paused { .. } => "paused",
            PrinterState::PrintingExternal { .. } => "printing-external",
            PrinterState::AwaitingBedClear { .. } => "awaiting-bed-clear",
            PrinterState::MonitorOnly { .. } => "monitor-only",
            PrinterState::Error { .. } => "error",
        }
    }

    pub fn job(&self) -> Option<JobId> {
        match self {
            PrinterState::Printing { job } | PrinterState::Paused { job } => Some(*job),
            _ => None,
        }
    }
}
