//! The slicing worker: one task that owns the set of running slices. It reads the jobs in
//! stage `slicing` from the store (at start, after a slice ends, when an event says a job
//! entered the stage, and after missing events) and starts slices in queue order up to
//! `max_parallel`; when a running slice's job leaves the stage (cancelled), it stops that
//! slice, whose slicer is then killed.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Settings;
use super::job;
use crate::domain::{JobId, JobStatus, QueuedStage};
use crate::events::{Event, EventKind};
use crate::gateway::Gateway;

pub(super) struct Worker {
    gateway: Gateway,
    settings: Arc<Settings>,
    max_parallel: usize,
    /// The running slices, each with the token that stops it.
    running: HashMap<JobId, CancellationToken>,
    /// Each slice sends its job id once when it ends. Capacity `max_parallel`: at most that
    /// many slices run, so a send never waits.
    ended: (mpsc::Sender<JobId>, mpsc::Receiver<JobId>),
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Worker {
    pub(super) fn new(
        gateway: Gateway,
        settings: Arc<Settings>,
        max_parallel: usize,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Worker {
        Worker {
            gateway,
            settings,
            max_parallel,
            running: HashMap::new(),
            ended: mpsc::channel(max_parallel),
            tasks,
            shutdown,
        }
    }

    /// Runs until shutdown. Running slices hold child tokens of the shutdown token, so they
    /// kill their slicers themselves and leave their jobs in `slicing` for the next start.
    pub(super) async fn run(mut self, mut events: broadcast::Receiver<Event>) {
        self.refill().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                Some(job) = self.ended.1.recv() => {
                    self.running.remove(&job);
                    self.refill().await;
                }
                event = events.recv() => match event {
                    Ok(event) => self.on_event(event).await,
                    // Missed events: the store still knows which jobs are slicing.
                    Err(RecvError::Lagged(_)) => self.refill().await,
                    Err(RecvError::Closed) => break,
                },
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        let (EventKind::JobQueued(job) | EventKind::JobStatus(job)) = event.kind else {
            return;
        };
        let slicing = job.status == JobStatus::Queued(QueuedStage::Slicing);
        match self.running.get(&job.id) {
            Some(stop) if !slicing => stop.cancel(),
            None if slicing => self.refill().await,
            _ => {}
        }
    }

    /// Stops slices whose job left `slicing`, then starts the waiting ones in queue order
    /// while there is room.
    async fn refill(&mut self) {
        let waiting = match self.gateway.waiting_jobs(QueuedStage::Slicing).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "reading the jobs waiting for the slicer");
                return;
            }
        };
        for (id, stop) in &self.running {
            if !waiting.iter().any(|job| job.id == *id) {
                stop.cancel();
            }
        }
        for job in waiting {
            if self.running.len() >= self.max_parallel {
                break;
            }
            if self.running.contains_key(&job.id) {
                continue;
            }
            let stop = self.shutdown.child_token();
            self.running.insert(job.id, stop.clone());
            let (gateway, settings) = (self.gateway.clone(), self.settings.clone());
            let (ended, shutdown) = (self.ended.0.clone(), self.shutdown.clone());
            self.tasks.spawn(async move {
                let id = job.id;
                job::slice(&gateway, &settings, job, &stop, &shutdown).await;
                // The worker is gone only at shutdown, when nobody needs to know.
                let _ = ended.send(id).await;
            });
        }
    }
}
