//! What the three print-host drivers (OctoPrint, Moonraker for Klipper, Bambu LAN) share:
//! a host prints the job on its own, the gateway follows it. Sans-IO, like the trackers that
//! use it. `job` is the one job the gateway follows on a host (its way to the printer, the
//! reports while it prints, its outcome from the host's record); `link` the link and
//! temperature reports, each sent once, when it changes; `file` a file host's job (its file,
//! its record looked up once at a time) and the file of a job that ended, until the host no
//! longer prints it; `offline` the tasks' reconnect delays and
//! the wait between sessions.
//!
//! What stays in each driver is how its host says these things: OctoPrint's state strings
//! and events, Klipper's `print_stats` and Moonraker's history, a Bambu printer's
//! `gcode_state`, HMS codes and authorization refusal.

mod file;
mod job;
mod link;
mod offline;

pub use file::{DELETE_TRIES, Ended, FileJob};
pub use job::{HostJob, Phase, Recorded};
pub use link::{LinkState, Shown};
pub use offline::{Backoff, Offline, wait_offline};

use crate::domain::JobId;
use crate::printer::driver::DriverReport;

/// The path on a file host (OctoPrint's local storage, Moonraker's `gcodes`) of the file
/// uploaded for `job` into `folder`; each job has a file of its own, so the file names the
/// job after any restart.
pub fn remote_path(folder: &str, job: JobId) -> String {
    format!("{folder}/job-{}.gcode", job.0)
}

/// What a file host's tracker (OctoPrint, Moonraker) asks its task to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Report(DriverReport),
    /// Look up how the job's print of `path` ended in the host's record (OctoPrint's print
    /// record of the file, Moonraker's history), then call the tracker's `resolved`.
    Resolve {
        job: JobId,
        path: String,
    },
    /// Delete the job's uploaded file (the job ended and the config says so).
    Delete {
        path: String,
    },
}
