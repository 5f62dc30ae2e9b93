//! The handle the rest of the gateway holds on a printer's actor: a bounded command channel
//! and a `watch` of the printer's status.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::figures::{Figure, LinkFigures};
use super::recovery::{RecoverError, Recovery};
use super::status::PrinterStatus;
use crate::config::BuildVolume;
use crate::domain::{JobId, PrinterId};
use crate::jobs::StoreError;

/// Commands come from people and the scheduler's wake-ups; 32 is plenty. When full, a
/// `Wake` is dropped (the actor is busy and will look at the queue anyway) and the other
/// commands wait.
pub(super) const COMMAND_CAPACITY: usize = 32;

/// What a person can do to the job on a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

pub(super) type Reply = oneshot::Sender<Result<(), PrinterError>>;

pub(super) enum PrinterCommand {
    /// The queue changed: look for a job to start.
    Wake,
    BedCleared(Reply),
    Control {
        job: JobId,
        action: Control,
        reply: Reply,
    },
    EmergencyStop(Reply),
    /// Print an interrupted job again as planned (the actor checks the bed first).
    Recover(Box<Recovery>, Reply),
}

#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("job {0} is not on this printer")]
    NotOnPrinter(JobId),
    #[error("job {job} is {state}; it cannot {action}")]
    WrongState {
        job: JobId,
        state: &'static str,
        action: &'static str,
    },
    #[error("printer {0} is printing; the bed cannot be clear")]
    Printing(PrinterId),
    #[error("printer {0} does not answer: its driver has stopped")]
    DriverGone(PrinterId),
    #[error("printer {0} has stopped")]
    ActorGone(PrinterId),
    #[error("printer {0} is not connected")]
    NotConnected(PrinterId),
    #[error(transparent)]
    Recover(#[from] RecoverError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A cheap handle to one printer's actor.
#[derive(Clone)]
pub struct PrinterHandle {
    pub(super) id: PrinterId,
    pub(super) build_volume: BuildVolume,
    /// Whether its driver starts sliced Bambu projects (`.gcode.3mf`).
    pub(super) prints_projects: bool,
    pub(super) commands: mpsc::Sender<PrinterCommand>,
    pub(super) status: watch::Receiver<PrinterStatus>,
    /// The driver's own figures about its link, for metrics.
    pub(super) figures: Option<Arc<dyn LinkFigures>>,
    /// Whether its driver journals jobs and can recover an interrupted one.
    pub(super) recovers: bool,
}

impl PrinterHandle {
    pub fn id(&self) -> &PrinterId {
        &self.id
    }

    /// Whether its driver starts sliced Bambu projects (`.gcode.3mf`): only Bambu's does.
    pub fn prints_projects(&self) -> bool {
        self.prints_projects
    }

    pub fn build_volume(&self) -> &BuildVolume {
        &self.build_volume
    }

    pub fn status(&self) -> PrinterStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change (state, temperatures, progress).
    pub fn watch(&self) -> watch::Receiver<PrinterStatus> {
        self.status.clone()
    }

    /// The driver's figures about its link as they are now (none when it keeps none).
    pub fn figures(&self) -> Vec<Figure> {
        self.figures.as_ref().map_or_else(Vec::new, |f| f.figures())
    }

    /// Whether the printer's driver journals its jobs, so an interrupted one can be recovered.
    pub fn recovers(&self) -> bool {
        self.recovers
    }

    /// Prints an interrupted job again as `recovery` plans, once the actor has checked that
    /// the printer is up and idle and its bed still holds that job's part.
    pub async fn recover(&self, recovery: Recovery) -> Result<(), PrinterError> {
        self.ask(|reply| PrinterCommand::Recover(Box::new(recovery), reply))
            .await
    }

    /// False once the actor's task has ended.
    pub fn is_alive(&self) -> bool {
        !self.commands.is_closed()
    }

    /// Ask the actor to look at the queue. Never waits: a full inbox means it is busy and
    /// will look anyway.
    pub fn wake(&self) {
        let _ = self.commands.try_send(PrinterCommand::Wake);
    }

    pub async fn bed_cleared(&self) -> Result<(), PrinterError> {
        self.ask(PrinterCommand::BedCleared).await
    }

    pub async fn control(&self, job: JobId, action: Control) -> Result<(), PrinterError> {
        self.ask(|reply| PrinterCommand::Control { job, action, reply })
            .await
    }

    pub async fn emergency_stop(&self) -> Result<(), PrinterError> {
        self.ask(PrinterCommand::EmergencyStop).await
    }

    async fn ask(&self, command: impl FnOnce(Reply) -> PrinterCommand) -> Result<(), PrinterError> {
        let (reply, answer) = oneshot::channel();
        let gone = || PrinterError::ActorGone(self.id.clone());
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
