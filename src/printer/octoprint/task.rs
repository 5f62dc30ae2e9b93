//! The driver's task: connect to OctoPrint (with backoff, and a long one for a rejected key),
//! open the push channel or fall back to polling, feed what OctoPrint says to the tracker,
//! and carry out the actor's commands through the REST API.

use std::collections::VecDeque;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::OctoPrintSettings;
use super::push::{Push, Pushed};
use super::rest::{Rest, RestError};
use super::track::{Step, Tracker, remote_path};
use crate::domain::JobId;
use crate::printer::causes::with_causes;
use crate::printer::driver::{DriverCommand, DriverEnd, DriverReport};
use crate::printer::host::{Backoff, Offline, wait_offline};
use crate::printer::safety::check_file;

/// Why a session with OctoPrint ended.
enum SessionEnd {
    Shutdown,
    Broken(RestError),
    PushLost(String),
}

pub struct Driver {
    settings: OctoPrintSettings,
    rest: Rest,
    tracker: Tracker,
    reports: mpsc::Sender<DriverReport>,
    backoff: Backoff,
}

impl Driver {
    pub fn new(
        settings: OctoPrintSettings,
        rest: Rest,
        reports: mpsc::Sender<DriverReport>,
    ) -> Self {
        let tracker = Tracker::new(settings.delete_after_job);
        Driver {
            settings,
            rest,
            tracker,
            reports,
            backoff: Backoff::default(),
        }
    }

    pub async fn run(mut self, end: DriverEnd, shutdown: CancellationToken) {
        let mut commands = end.commands;
        loop {
            let wait = match self.session(&mut commands, &shutdown).await {
                SessionEnd::Shutdown => break,
                SessionEnd::Broken(RestError::Unauthorized) => {
                    // Reported once; retrying sooner would only fill OctoPrint's log.
                    self.lost(RestError::Unauthorized.to_string()).await;
                    self.settings.unauthorized_backoff
                }
                SessionEnd::Broken(e) => {
                    self.lost(format!("OctoPrint is unreachable: {}", with_causes(&e)))
                        .await;
                    self.backoff.wait()
                }
                SessionEnd::PushLost(reason) => {
                    self.lost(format!("OctoPrint's push channel broke: {reason}"))
                        .await;
                    self.backoff.wait()
                }
            };
            if !wait_offline(&mut self, wait, &mut commands, &shutdown).await {
                break;
            }
        }
        tracing::debug!(printer = %self.settings.printer, "OctoPrint driver stopped");
    }

    async fn lost(&mut self, reason: String) {
        let steps = self.tracker.unreachable(reason);
        self.run_steps(steps).await;
    }

    async fn session(
        &mut self,
        commands: &mut mpsc::Receiver<DriverCommand>,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let version = match self.rest.version().await {
            Ok(version) => version,
            Err(e) => return SessionEnd::Broken(e),
        };
        let mut push = match Push::open(&self.rest).await {
            Ok(push) => Some(push),
            Err(e) => {
                tracing::warn!(printer = %self.settings.printer, error = %e,
                    "OctoPrint's push channel cannot be used; polling every {:?}",
                    self.settings.poll_interval);
                None
            }
        };
        tracing::info!(printer = %self.settings.printer, url = %self.rest.base(), %version,
            push = push.is_some(), "connected to OctoPrint");
        // Commands that came in before the session (the start-up `Reattach`) first: the first
        // look at OctoPrint must know which print is ours, or ours would show as external.
        while let Ok(command) = commands.try_recv() {
            let step = self.command(command).await;
            if let Some(end) = self.settle(step) {
                return end;
            }
        }
        if let Err(e) = self.refresh().await {
            return SessionEnd::Broken(e);
        }
        self.backoff.reset();
        let mut poll = tokio::time::interval(self.settings.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Shutdown,
                command = commands.recv() => match command {
                    None => return SessionEnd::Shutdown,
                    Some(command) => self.command(command).await,
                },
                pushed = next_pushed(&mut push) => match pushed {
                    Ok(pushed) => self.pushed(pushed, push.as_mut()).await,
                    Err(e) => return SessionEnd::PushLost(e.to_string()),
                },
                _ = poll.tick(), if push.is_none() => self.refresh().await,
            };
            if let Some(end) = self.settle(step) {
                return end;
            }
        }
    }

    /// A refused request is logged and the session goes on; any other error ends it.
    fn settle(&self, step: Result<(), RestError>) -> Option<SessionEnd> {
        match step {
            Ok(()) => None,
            Err(RestError::Refused {
                what,
                status,
                message,
            }) => {
                tracing::warn!(printer = %self.settings.printer, what, status, message,
                    "OctoPrint refused a request");
                None
            }
            Err(e) => Some(SessionEnd::Broken(e)),
        }
    }

    async fn pushed(
        &mut self,
        pushed: Vec<Pushed>,
        push: Option<&mut Push>,
    ) -> Result<(), RestError> {
        let mut reauth = false;
        for message in pushed {
            let steps = match message {
                Pushed::Snapshot(snapshot) => self.tracker.observe(snapshot),
                Pushed::Event(event) => self.tracker.event(event),
                Pushed::LookAgain => {
                    self.refresh().await?;
                    continue;
                }
                Pushed::ReauthRequired => {
                    reauth = true;
                    continue;
                }
            };
            self.run_steps(steps).await;
        }
        if let (true, Some(push)) = (reauth, push) {
            push.authenticate(&self.rest).await.map_err(|e| match e {
                super::push::PushError::Login(e) => e,
                other => RestError::Refused {
                    what: "re-authenticate the push channel",
                    status: 0,
                    message: other.to_string(),
                },
            })?;
        }
        Ok(())
    }

    /// A fresh look at OctoPrint through REST.
    async fn refresh(&mut self) -> Result<(), RestError> {
        let snapshot = self.rest.snapshot().await?;
        let steps = self.tracker.observe(snapshot);
        self.run_steps(steps).await;
        Ok(())
    }

    async fn command(&mut self, command: DriverCommand) -> Result<(), RestError> {
        match command {
            DriverCommand::Start { job, file, .. } => self.start(job, &file).await,
            DriverCommand::Reattach { job } => {
                self.tracker.track(job, self.remote_path(job), true);
                self.refresh().await
            }
            // OctoPrint streams the file itself; the actor never asks this driver to recover
            // (its link does not say `recovers`), and a job asked anyway fails with the reason.
            DriverCommand::Recover { job, .. } => {
                self.tracker.track(job, self.remote_path(job), false);
                let reason = "a print on OctoPrint cannot be recovered from a journal";
                let steps = self.tracker.start_failed(reason.into());
                self.run_steps(steps).await;
                Ok(())
            }
            DriverCommand::Pause => self.rest.pause().await,
            DriverCommand::Resume => self.rest.resume().await,
            DriverCommand::Cancel => {
                self.tracker.cancel_requested();
                self.rest.cancel().await
            }
            DriverCommand::EmergencyStop => {
                let result = self.rest.emergency_stop().await;
                let steps = self.tracker.start_failed("emergency stop".into());
                self.run_steps(steps).await;
                result
            }
        }
    }

    /// Checks the file against the safety caps, uploads it and starts it; a refusal fails
    /// the job with OctoPrint's reason, a broken link ends the session.
    async fn start(&mut self, job: JobId, file: &std::path::Path) -> Result<(), RestError> {
        let path = self.remote_path(job);
        self.tracker.track(job, path.clone(), false);
        if let Err(refused) = check_file(self.settings.safety.clone(), file.to_owned()).await {
            let steps = self.tracker.start_failed(refused.to_string());
            self.run_steps(steps).await;
            return Ok(());
        }
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        let started = match self.rest.upload(file, &self.settings.folder, &name).await {
            Ok(uploaded) => self.rest.print(&uploaded).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => Ok(()),
            Err(e @ (RestError::Unreachable { .. } | RestError::Unauthorized)) => {
                let steps = self
                    .tracker
                    .start_failed(format!("could not start on OctoPrint: {e}"));
                self.run_steps(steps).await;
                Err(e)
            }
            Err(e) => {
                let steps = self.tracker.start_failed(e.to_string());
                self.run_steps(steps).await;
                Ok(())
            }
        }
    }

    fn remote_path(&self, job: JobId) -> String {
        remote_path(&self.settings.folder, job)
    }

    /// Carries out the tracker's steps, including the ones its answers lead to.
    async fn run_steps(&mut self, steps: Vec<Step>) {
        let mut queue = VecDeque::from(steps);
        while let Some(step) = queue.pop_front() {
            match step {
                Step::Report(report) => {
                    // Closed only when the actor has stopped, i.e. at shutdown.
                    let _ = self.reports.send(report).await;
                }
                Step::Resolve { job, path } => match self.rest.last_print(&path).await {
                    Ok(last) => queue.extend(self.tracker.resolved(job, last)),
                    Err(e) => {
                        tracing::warn!(printer = %self.settings.printer, %job, error = %e,
                            "cannot look up how the job ended on OctoPrint");
                        queue.extend(self.tracker.unreachable(e.to_string()));
                    }
                },
                Step::Delete { path } => {
                    if let Err(e) = self.rest.delete(&path).await
                        && !self.tracker.delete_refused(path.clone())
                    {
                        tracing::warn!(printer = %self.settings.printer, path, error = %e,
                            "cannot delete the job's file on OctoPrint");
                    }
                }
            }
        }
    }
}

impl Offline for Driver {
    async fn offline_command(&mut self, command: DriverCommand) {
        match command {
            DriverCommand::Start { job, .. } => {
                self.tracker.track(job, self.remote_path(job), false);
                let steps = self.tracker.start_failed("OctoPrint is unreachable".into());
                self.run_steps(steps).await;
            }
            DriverCommand::Reattach { job } => {
                self.tracker.track(job, self.remote_path(job), true);
            }
            other => {
                tracing::warn!(printer = %self.settings.printer, command = ?other,
                    "OctoPrint is unreachable; command not carried out");
            }
        }
    }
}

async fn next_pushed(push: &mut Option<Push>) -> Result<Vec<Pushed>, super::push::PushError> {
    match push {
        Some(push) => push.next().await,
        None => std::future::pending().await,
    }
}
