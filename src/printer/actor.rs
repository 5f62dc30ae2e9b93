//! One actor per printer: the only owner of that printer's state. It takes commands from the
//! rest of the gateway (through a `PrinterHandle`), reports from its driver, applies job
//! transitions through the job store, and starts the next job when the printer is up, idle
//! and its bed is clear. It times the job on the printer (`timing`) for the remaining time
//! and, once completed, the actual print time behind the printer's estimate accuracy.

use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::driver::{DriverCommand, DriverLink, DriverReport, Outcome};
use super::handle::{COMMAND_CAPACITY, Control, PrinterCommand, PrinterError, PrinterHandle};
use super::status::{Current, ExternalPrint, Link, PrinterStatus, derive_state};
use super::timing::Tracking;
use super::tracked::left_on_printer;
use crate::config::PrinterConfig;
use crate::domain::{JobId, Percent, PrinterState, Temperatures};
use crate::jobs::{Accuracy, ActualTime, BedState, JobStore, StoreError, Transition};

/// Starts the actor for `config`, driving the printer through `driver`.
pub async fn spawn(
    config: PrinterConfig,
    store: JobStore,
    driver: DriverLink,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<PrinterHandle, StoreError> {
    let id = config.id.clone();
    let (bed, accuracy) = store
        .call({
            let id = id.clone();
            move |db| Ok((db.bed(&id)?, db.accuracy(&id)?))
        })
        .await?;
    let (current, tracking) = left_on_printer(&store, &id, &accuracy).await?;
    if let Some(current) = current {
        // Only drivers that can re-attach keep such a job over a restart; the driver
        // follows it to its end. A full inbox cannot happen: nothing else was sent yet.
        let _ = driver
            .commands
            .try_send(DriverCommand::Reattach { job: current.job });
    }
    let link = Link::Disconnected {
        reason: "connecting".into(),
    };
    let state = derive_state(&link, bed, None, config.auto_start);
    let (status_tx, status_rx) = watch::channel(PrinterStatus {
        id: id.clone(),
        state: state.clone(),
        temperatures: Temperatures::default(),
        current: None,
        accuracy,
        external: None,
    });
    let (commands, inbox) = mpsc::channel(COMMAND_CAPACITY);
    let handle = PrinterHandle {
        id: id.clone(),
        build_volume: config.build_volume,
        prints_projects: prints_projects(&config),
        commands,
        status: status_rx,
        figures: driver.figures,
        recovers: driver.recovers,
    };
    let actor = Actor {
        config,
        store,
        driver: driver.commands,
        link,
        bed,
        current,
        tracking,
        accuracy,
        shown: state,
        status: status_tx,
    };
    tasks.spawn(actor.run(inbox, driver.reports, shutdown));
    Ok(handle)
}

mod recover;
mod start;

use start::prints_projects;

struct Actor {
    config: PrinterConfig,
    store: JobStore,
    driver: mpsc::Sender<DriverCommand>,
    link: Link,
    bed: BedState,
    current: Option<Current>,
    /// Timing of the job on the printer (with `current`).
    tracking: Option<Tracking>,
    accuracy: Accuracy,
    /// The state last stored as a `printer:state` event.
    shown: PrinterState,
    status: watch::Sender<PrinterStatus>,
}

impl Actor {
    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<PrinterCommand>,
        mut reports: mpsc::Receiver<DriverReport>,
        shutdown: CancellationToken,
    ) {
        let mut driver_alive = true;
        loop {
            let step = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(command) = inbox.recv() => self.on_command(command).await,
                report = reports.recv(), if driver_alive => match report {
                    Some(report) => self.on_report(report).await,
                    // A driver stopping for shutdown is not the printer going away: a
                    // print on a print host goes on and is re-attached after the restart.
                    None if shutdown.is_cancelled() => break,
                    None => {
                        driver_alive = false;
                        let reason = "the printer driver stopped".to_owned();
                        self.on_report(DriverReport::Disconnected { reason }).await
                    }
                },
            };
            let step = match step {
                Ok(()) => self.start_next_job().await,
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                tracing::error!(printer = %self.config.id, error = %e, "printer actor");
                if matches!(e, StoreError::Stopped) {
                    break;
                }
            }
        }
        tracing::debug!(printer = %self.config.id, "printer actor stopped");
    }

    async fn on_command(&mut self, command: PrinterCommand) -> Result<(), StoreError> {
        match command {
            PrinterCommand::Wake => Ok(()),
            PrinterCommand::BedCleared(reply) => {
                let result = self.bed_cleared().await;
                let _ = reply.send(result);
                Ok(())
            }
            PrinterCommand::Control { job, action, reply } => {
                let _ = reply.send(self.control(job, action).await);
                Ok(())
            }
            PrinterCommand::EmergencyStop(reply) => {
                let _ = reply.send(self.tell_driver(DriverCommand::EmergencyStop));
                Ok(())
            }
            PrinterCommand::Recover(recovery, reply) => {
                let _ = reply.send(self.recover(*recovery).await);
                Ok(())
            }
        }
    }

    async fn bed_cleared(&mut self) -> Result<(), PrinterError> {
        if self.current.is_some() || matches!(self.link, Link::External(_)) {
            return Err(PrinterError::Printing(self.config.id.clone()));
        }
        self.bed = BedState::Clear;
        self.publish(true).await?;
        Ok(())
    }

    async fn control(&mut self, job: JobId, action: Control) -> Result<(), PrinterError> {
        let current = self
            .current
            .filter(|c| c.job == job)
            .ok_or(PrinterError::NotOnPrinter(job))?;
        let wrong = |action: &'static str| PrinterError::WrongState {
            job,
            state: if current.paused { "paused" } else { "printing" },
            action,
        };
        let command = match action {
            Control::Pause if current.paused => return Err(wrong("pause")),
            Control::Resume if !current.paused => return Err(wrong("resume")),
            Control::Pause => DriverCommand::Pause,
            Control::Resume => DriverCommand::Resume,
            Control::Cancel => DriverCommand::Cancel,
        };
        self.tell_driver(command)
    }

    fn tell_driver(&self, command: DriverCommand) -> Result<(), PrinterError> {
        self.driver
            .try_send(command)
            .map_err(|_| PrinterError::DriverGone(self.config.id.clone()))
    }

    async fn on_report(&mut self, report: DriverReport) -> Result<(), StoreError> {
        match report {
            DriverReport::Connected => self.link = Link::Ready,
            DriverReport::Disconnected { reason } => {
                self.end_current(Outcome::Interrupted(reason.clone()))
                    .await?;
                self.link = Link::Disconnected { reason };
            }
            DriverReport::Unreachable { reason } => self.link = Link::Disconnected { reason },
            DriverReport::MonitorOnly { reason } => self.link = Link::MonitorOnly { reason },
            DriverReport::External { file, progress } => {
                self.external_print(ExternalPrint { file, progress })
                    .await?;
            }
            DriverReport::Fault { message } => {
                self.end_current(Outcome::Failed(message.clone())).await?;
                self.link = Link::Fault { message };
            }
            DriverReport::Temperatures(temperatures) => {
                self.status.send_modify(|s| s.temperatures = temperatures);
            }
            DriverReport::Progress { job, progress } => self.progress(job, progress).await?,
            DriverReport::Journal { job, point } => {
                if self.current.is_some_and(|c| c.job == job) {
                    self.store
                        .call(move |db| db.write(|w| w.journal(job, &point)))
                        .await?;
                }
            }
            DriverReport::Paused { job } => self.set_paused(job, true).await?,
            DriverReport::Resumed { job } => self.set_paused(job, false).await?,
            DriverReport::Finished { job, outcome } => {
                if self.current.is_some_and(|c| c.job == job) {
                    self.end_current(outcome).await?;
                }
            }
        }
        self.publish(false).await
    }

    /// Stores the progress with the time left (the time first, so the status event has it).
    async fn progress(&mut self, job: JobId, progress: Percent) -> Result<(), StoreError> {
        let Some(current) = self.current.as_mut().filter(|c| c.job == job) else {
            return Ok(());
        };
        current.progress = progress;
        current.remaining = self
            .tracking
            .as_ref()
            .and_then(|t| t.remaining(progress, Instant::now()));
        let remaining = current.remaining.map(|r| r.corrected_s);
        self.store
            .call(move |db| {
                db.write(|w| {
                    w.set_remaining(job, remaining)?;
                    w.transition(job, Transition::Progress(progress))
                })
            })
            .await
            .map(drop)
    }

    /// Someone else prints on the printer: it is busy, and its part will hold the bed, so
    /// the bed needs clearing from now on (unless a job of ours is on the printer, which
    /// ends with the same interlock). Stored at once: the bed stays occupied over a restart.
    async fn external_print(&mut self, print: ExternalPrint) -> Result<(), StoreError> {
        self.link = Link::External(print);
        if self.current.is_some() || self.bed != BedState::Clear {
            return Ok(());
        }
        self.bed = BedState::NeedsClearing { last_job: None };
        self.publish(true).await
    }

    async fn set_paused(&mut self, job: JobId, paused: bool) -> Result<(), StoreError> {
        let Some(current) = self
            .current
            .as_mut()
            .filter(|c| c.job == job && c.paused != paused)
        else {
            return Ok(());
        };
        current.paused = paused;
        if let Some(tracking) = self.tracking.as_mut() {
            if paused {
                tracking.pause(Instant::now());
            } else {
                tracking.resume(Instant::now());
            }
        }
        let transition = if paused {
            Transition::Pause
        } else {
            Transition::Resume
        };
        self.apply(job, transition).await
    }

    /// Ends the job on the printer (if any) with `outcome`; its part now holds the bed.
    async fn end_current(&mut self, outcome: Outcome) -> Result<(), StoreError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        let completed = matches!(outcome, Outcome::Completed);
        let actual = self
            .tracking
            .take()
            .map_or(ActualTime::Wall, |t| t.actual(Instant::now()));
        let transition = match outcome {
            Outcome::Completed => Transition::Complete,
            Outcome::Failed(error) => Transition::Fail(error),
            Outcome::Cancelled => Transition::Cancel,
            Outcome::Interrupted(reason) => Transition::Interrupt(reason),
        };
        self.bed = BedState::NeedsClearing {
            last_job: Some(current.job),
        };
        let (printer, bed) = (self.config.id.clone(), self.bed);
        let accuracy = self
            .store
            .call(move |db| {
                db.write(|w| {
                    w.transition(current.job, transition)?;
                    if completed {
                        w.record_actual_time(current.job, actual)?;
                    }
                    w.set_bed(&printer, bed)
                })?;
                db.accuracy(&printer)
            })
            .await?;
        self.accuracy = accuracy;
        Ok(())
    }

    async fn apply(&self, job: JobId, transition: Transition) -> Result<(), StoreError> {
        self.store
            .call(move |db| db.transition(job, transition))
            .await
            .map(drop)
    }

    /// Updates the status watch; stores a `printer:state` event when the state changed
    /// (and the bed with it when `bed_changed`).
    async fn publish(&mut self, bed_changed: bool) -> Result<(), StoreError> {
        // A job kept over an unreachable link (its host down) is not shown: the printer
        // shows as disconnected until its driver knows more.
        let reachable = !matches!(self.link, Link::Disconnected { .. });
        let current = self.current.filter(|_| reachable);
        let state = derive_state(&self.link, self.bed, current, self.config.auto_start);
        if state != self.shown || bed_changed {
            let (printer, stored, bed) = (self.config.id.clone(), state.clone(), self.bed);
            let bed = bed_changed.then_some(bed);
            self.store
                .call(move |db| db.printer_changed(&printer, &stored, bed))
                .await?;
            self.shown = state.clone();
        }
        let accuracy = self.accuracy;
        let external = match &self.link {
            Link::External(print) if current.is_none() => Some(print.clone()),
            _ => None,
        };
        self.status.send_modify(|s| {
            s.state = state;
            s.current = current;
            s.accuracy = accuracy;
            s.external = external;
        });
        Ok(())
    }
}
