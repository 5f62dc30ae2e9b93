//! The driver's task: connect to Moonraker (with backoff, and a long one for a rejected
//! key), open the websocket or fall back to polling over HTTP, and run one session after
//! another. A session sends the queued calls (as JSON-RPC frames on the websocket, or one
//! HTTP request each when polling) and feeds what comes back to
//! [`answers`](super::answers); the actor's commands go to [`commands`](super::commands).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rustls::ClientConfig;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::MoonrakerSettings;
use super::commands::StartError;
use super::http::{Http, HttpError};
use super::objects::Objects;
use super::rpc::{Call, Requests};
use super::socket::Socket;
use super::track::Tracker;
use crate::domain::JobId;
use crate::printer::causes::with_causes;
use crate::printer::driver::{DriverCommand, DriverEnd, DriverReport, Outcome};
use crate::printer::host::{Backoff, wait_offline};

mod session;

pub use session::{Channel, Session, SessionEnd};

/// Why a call was made: what to do with its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    Identify,
    KlippyInfo,
    Subscribe,
    Query,
    Start(JobId),
    /// Pause, resume, emergency stop: only a refusal matters (it is logged).
    Control(&'static str),
    Cancel,
    HeatersOff,
    History {
        job: JobId,
    },
    /// The ended job's file: a refusal is asked again when Klipper is next idle, a few
    /// times (`host::DELETE_TRIES`).
    Delete {
        path: String,
    },
}

/// The job file being checked and uploaded.
pub struct Upload {
    pub job: JobId,
    pub done: Pin<Box<dyn Future<Output = Result<(), StartError>> + Send>>,
}

pub struct Driver {
    pub settings: MoonrakerSettings,
    pub http: Http,
    pub tls: Arc<ClientConfig>,
    pub tracker: Tracker,
    pub objects: Objects,
    pub reports: mpsc::Sender<DriverReport>,
    /// Calls to make, in order; answering one may queue more.
    pub queue: VecDeque<(Call, Asked)>,
    pub upload: Option<Upload>,
    backoff: Backoff,
    /// The websocket could not be used last time too: say so once, not every retry.
    polling_told: bool,
    /// "connected" was logged since the last loss (a polling session renews every
    /// `SOCKET_RETRY` without news).
    announced: bool,
}

impl Driver {
    pub fn new(
        settings: MoonrakerSettings,
        http: Http,
        tls: Arc<ClientConfig>,
        reports: mpsc::Sender<DriverReport>,
    ) -> Self {
        let tracker = Tracker::new(settings.delete_after_job);
        Driver {
            settings,
            http,
            tls,
            tracker,
            objects: Objects::default(),
            reports,
            queue: VecDeque::new(),
            upload: None,
            backoff: Backoff::default(),
            polling_told: false,
            announced: false,
        }
    }

    pub async fn run(mut self, end: DriverEnd, shutdown: CancellationToken) {
        let mut commands = end.commands;
        loop {
            let wait = match self.session(&mut commands, &shutdown).await {
                SessionEnd::Shutdown => break,
                SessionEnd::RetrySocket => continue,
                SessionEnd::Broken(e @ (HttpError::Unauthorized | HttpError::KeyNeeded)) => {
                    // Reported once; retrying sooner would only fill Moonraker's log.
                    self.lost(e.to_string()).await;
                    self.settings.unauthorized_backoff
                }
                SessionEnd::Broken(e) => {
                    let reason = format!("Moonraker is unreachable: {}", with_causes(&e));
                    self.lost(reason).await;
                    self.backoff.wait()
                }
                SessionEnd::SocketLost(reason) => {
                    self.lost(format!("Moonraker's websocket broke: {reason}"))
                        .await;
                    self.backoff.wait()
                }
            };
            if !wait_offline(&mut self, wait, &mut commands, &shutdown).await {
                break;
            }
        }
        tracing::debug!(printer = %self.settings.printer, "Moonraker driver stopped");
    }

    /// The session ended: a job whose file was uploading fails (its start would need a
    /// session), a job on the printer stays.
    async fn lost(&mut self, reason: String) {
        self.queue.clear();
        self.announced = false;
        if self.upload.take().is_some() {
            let why = format!("could not upload the job's file: {reason}");
            let steps = self.tracker.give_up(Outcome::Failed(why));
            self.run_steps(steps).await;
        }
        let steps = self.tracker.unreachable(reason);
        self.run_steps(steps).await;
    }

    async fn session(
        &mut self,
        commands: &mut mpsc::Receiver<DriverCommand>,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let version = match self.http.server_info().await {
            Ok(version) => version,
            Err(e) => return SessionEnd::Broken(e),
        };
        let mut session = Session::new(self.open_channel().await);
        let websocket = matches!(session.channel, Channel::Socket { .. });
        if !std::mem::replace(&mut self.announced, true) {
            tracing::info!(printer = %self.settings.printer, url = %self.http.base(), %version,
                websocket, "connected to Moonraker");
        }
        // Commands that came in before the session (the start-up `Reattach`) first: the
        // first look at Klipper must know which print is ours, or ours would show as external.
        while let Ok(command) = commands.try_recv() {
            self.command(command).await;
        }
        self.objects = Objects::default();
        self.queue.extend(match session.channel {
            Channel::Socket { .. } => vec![
                (self.identify(), Asked::Identify),
                (Call::PrinterInfo, Asked::KlippyInfo),
                (Call::Subscribe, Asked::Subscribe),
            ],
            Channel::Polling => vec![(Call::Query, Asked::Query)],
        });
        session.info_pending = websocket;
        if let Err(end) = self.flush(&mut session).await {
            return end;
        }
        self.backoff.reset();
        match self.follow(&mut session, commands, shutdown).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn open_channel(&mut self) -> Channel {
        let key = self.settings.api_key.as_ref();
        match Socket::open(self.http.base(), key, self.tls.clone()).await {
            Ok(socket) => {
                if std::mem::take(&mut self.polling_told) {
                    tracing::info!(printer = %self.settings.printer,
                        "Moonraker's websocket works again; polling stops");
                }
                let requests = Requests::default();
                let socket = Box::new(socket);
                Channel::Socket { socket, requests }
            }
            Err(e) => {
                let interval = self.settings.poll_interval;
                if !std::mem::replace(&mut self.polling_told, true) {
                    tracing::warn!(printer = %self.settings.printer, error = %e,
                        "Moonraker's websocket cannot be used; polling \
                         /printer/objects/query every {interval:?} instead");
                } else {
                    tracing::debug!(printer = %self.settings.printer, error = %e,
                        "Moonraker's websocket still cannot be used");
                }
                Channel::Polling
            }
        }
    }

    fn identify(&self) -> Call {
        Call::Identify {
            client_name: format!("fluxprint-gateway/{}", self.settings.printer),
        }
    }
}
