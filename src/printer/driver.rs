//! The seam between a printer actor and whatever drives the printer (a port to the printer's
//! firmware, a print host's API, or a test's driver). A driver is a task of its own; the
//! actor talks to it through two bounded channels, so a slow printer never blocks the actor
//! and a driver never touches the database. The seam knows no driver: a driver's own figures
//! come through [`LinkFigures`] and its start-up errors as plain errors.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::figures::LinkFigures;
use crate::config::PrinterConfig;
use crate::domain::{JobId, LayerStart, Percent, PrintOptions, ResumePoint, Temperatures};

/// Commands are few and rare (one per person's click); a full channel means the driver is
/// wedged, and the actor reports that instead of waiting.
pub const COMMAND_CAPACITY: usize = 16;
/// Reports include temperatures every second or so; the actor drains them at once. When full,
/// the driver waits (progress and outcomes must not be dropped).
pub const REPORT_CAPACITY: usize = 64;

/// What the actor asks of the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverCommand {
    /// Print this file. The driver answers with `Progress` reports and one `Finished`.
    /// `options` are the job's print options (defaults when it has none); only the Bambu
    /// driver reads them: the intake lets options only on a project, for a Bambu printer.
    Start {
        job: JobId,
        file: PathBuf,
        options: PrintOptions,
    },
    Pause,
    Resume,
    Cancel,
    /// Stop the printer at once (M112 on Marlin); the running job ends `failed`.
    EmergencyStop,
    /// After a gateway restart: this job was on the printer; follow it to its end (only
    /// sent to drivers whose factory says [`DriverFactory::can_reattach`]).
    Reattach {
        job: JobId,
    },
    /// Print an interrupted job again (only sent to drivers whose link says
    /// [`DriverLink::recovers`]): `prologue` first, then the file from the start of
    /// `layer`. Answered like `Start`.
    Recover {
        job: JobId,
        file: PathBuf,
        /// Boxed: inline it would make every command 150 bytes, and the channel keeps its
        /// slots in blocks of 32 (issue #14).
        layer: Box<LayerStart>,
        prologue: Vec<String>,
    },
}

/// How a job ended on the printer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed,
    Failed(String),
    Cancelled,
    /// The link to the printer broke during the job (unplugged, its host lost it).
    Interrupted(String),
}

/// What the driver tells the actor.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverReport {
    /// The printer is connected and can take a job.
    Connected,
    Disconnected {
        reason: String,
    },
    /// The printer's host (a print server) is out of reach, but a job on it may go on printing:
    /// the printer shows as disconnected and its job stays on it until the driver reports
    /// how it ended.
    Unreachable {
        reason: String,
    },
    /// The printer is up and shows its state, but refuses the gateway's commands (a Bambu
    /// printer's authorization control): it takes no job and shows `monitor-only` with
    /// `reason`. Prints on it are still reported (`External`).
    MonitorOnly {
        reason: String,
    },
    /// Someone else's print runs on the printer (started on its host's own page): the
    /// printer is busy and takes no job until the driver reports `Connected` (the print
    /// ended) or another link state. Sent again when its progress changes.
    External {
        file: String,
        progress: Option<Percent>,
    },
    Temperatures(Temperatures),
    Progress {
        job: JobId,
        progress: Percent,
    },
    Paused {
        job: JobId,
    },
    Resumed {
        job: JobId,
    },
    Finished {
        job: JobId,
        outcome: Outcome,
    },
    /// What a resume of the job after a crash or power cut needs, for the journal: sent at
    /// each layer change and every few seconds while it prints, never per line.
    Journal {
        job: JobId,
        point: ResumePoint,
    },
    /// The firmware reported a fault that needs a person (thermal runaway, kill, …).
    Fault {
        message: String,
    },
}

/// The actor's end of a driver.
pub struct DriverLink {
    pub commands: mpsc::Sender<DriverCommand>,
    pub reports: mpsc::Receiver<DriverReport>,
    /// The driver's own figures about its link, for metrics (`None`: it keeps none).
    pub figures: Option<Arc<dyn LinkFigures>>,
    /// Whether the driver journals its jobs (`DriverReport::Journal`) and can print an
    /// interrupted one again from its journal (`DriverCommand::Recover`): true for a host
    /// that streams the file line by line, so it knows where the printer was.
    pub recovers: bool,
}

/// The driver's end.
pub struct DriverEnd {
    pub commands: mpsc::Receiver<DriverCommand>,
    pub reports: mpsc::Sender<DriverReport>,
}

/// Two connected ends.
pub fn link() -> (DriverLink, DriverEnd) {
    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (report_tx, report_rx) = mpsc::channel(REPORT_CAPACITY);
    (
        DriverLink {
            commands: command_tx,
            reports: report_rx,
            figures: None,
            recovers: false,
        },
        DriverEnd {
            commands: command_rx,
            reports: report_tx,
        },
    )
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("printer {printer}: the {driver} driver is not part of this build")]
    NotAvailable {
        printer: String,
        driver: &'static str,
    },
    /// The driver could not start (its port, device or host settings); `source` is the
    /// driver's own error.
    #[error("printer {printer}: {source}")]
    Start {
        printer: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DriverError {
    /// `printer`'s driver could not start because of `source`.
    pub fn start(
        printer: impl ToString,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> DriverError {
        DriverError::Start {
            printer: printer.to_string(),
            source: source.into(),
        }
    }
}

/// Starts a driver for a configured printer. The gateway has one built-in factory; tests
/// bring their own.
pub trait DriverFactory: Send + Sync {
    /// Spawns the driver's tasks on `tasks`; they stop when `shutdown` is cancelled.
    fn start(
        &self,
        printer: &PrinterConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError>;

    /// Whether this printer's driver can follow a job that was printing when the gateway
    /// stopped (the print goes on without the gateway, as on a print host). Such jobs are not
    /// marked `interrupted` at start-up; the actor hands them back with `Reattach`.
    fn can_reattach(&self, _printer: &PrinterConfig) -> bool {
        false
    }
}
