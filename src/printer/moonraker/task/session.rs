//! One session with Moonraker: the channel it talks over (the websocket, or HTTP polling
//! when the websocket cannot be used), its loop (commands, frames, the upload, the poll
//! tick), keeping the websocket alive or giving up on it, and sending the queued calls.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::super::commands::StartError;
use super::super::http::HttpError;
use super::super::rpc::{Call, Requests};
use super::super::socket::{Socket, SocketError};
use super::{Asked, Driver, Upload};
use crate::domain::JobId;
use crate::printer::driver::DriverCommand;

/// A websocket quiet this long gets a ping; Moonraker itself sends something every second
/// (`notify_proc_stat_update`) on a default install.
const PING_AFTER: Duration = Duration::from_secs(10);
/// A websocket quiet this long (pings unanswered) is dead: its host left the network.
const SILENCE_LIMIT: Duration = Duration::from_secs(30);
/// While polling, the websocket is tried again this often.
const SOCKET_RETRY: Duration = Duration::from_secs(30);
/// Requests sent and not answered; past this Moonraker has stopped answering.
const MAX_WAITING: usize = 64;

/// How the session talks to Moonraker.
pub enum Channel {
    Socket {
        /// Boxed: the TLS-capable stream is large, and sessions are few.
        socket: Box<Socket>,
        requests: Requests<Asked>,
    },
    /// The websocket cannot be used: every call is an HTTP request, the printer is polled.
    Polling,
}

/// One connection to Moonraker and what it knows.
pub struct Session {
    pub channel: Channel,
    /// Moonraker holds our subscription (dropped when it loses Klippy).
    pub subscribed: bool,
    /// A `printer.info` is under way.
    pub info_pending: bool,
    last_heard: Instant,
    started: Instant,
}

/// Why a session ended.
pub enum SessionEnd {
    Shutdown,
    Broken(HttpError),
    SocketLost(String),
    /// Polling for a while: try the websocket again.
    RetrySocket,
}

impl From<HttpError> for SessionEnd {
    fn from(e: HttpError) -> Self {
        SessionEnd::Broken(e)
    }
}

impl From<SocketError> for SessionEnd {
    fn from(e: SocketError) -> Self {
        SessionEnd::SocketLost(e.to_string())
    }
}

impl Driver {
    /// The session's loop; it only ends with an `Err`.
    pub(super) async fn follow(
        &mut self,
        session: &mut Session,
        commands: &mut mpsc::Receiver<DriverCommand>,
        shutdown: &CancellationToken,
    ) -> Result<std::convert::Infallible, SessionEnd> {
        let mut tick = tokio::time::interval(self.settings.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Err(SessionEnd::Shutdown),
                command = commands.recv() => match command {
                    None => return Err(SessionEnd::Shutdown),
                    Some(command) => self.command(command).await,
                },
                frame = next_frame(&mut session.channel) => {
                    session.last_heard = Instant::now();
                    if let Some(text) = frame? {
                        self.incoming(session, &text).await;
                    }
                }
                done = upload_done(&mut self.upload) => self.uploaded(done).await?,
                _ = tick.tick() => self.tick(session).await?,
            }
            self.flush(session).await?;
        }
    }

    /// The poll interval passed: poll, ask after a Klippy that is not ready, keep the
    /// websocket alive, or go back to trying it.
    async fn tick(&mut self, session: &mut Session) -> Result<(), SessionEnd> {
        let quiet = session.last_heard.elapsed();
        match &mut session.channel {
            Channel::Polling => {
                if self.upload.is_none() && session.started.elapsed() >= SOCKET_RETRY {
                    return Err(SessionEnd::RetrySocket);
                }
                self.queue.push_back((Call::Query, Asked::Query));
            }
            Channel::Socket { socket, requests } => {
                if quiet >= SILENCE_LIMIT {
                    let reason = format!("no word from Moonraker in {quiet:?}");
                    return Err(SessionEnd::SocketLost(reason));
                }
                if requests.waiting() > MAX_WAITING {
                    let reason = format!("{} requests unanswered", requests.waiting());
                    return Err(SessionEnd::SocketLost(reason));
                }
                if quiet >= PING_AFTER {
                    socket.ping().await?;
                }
                if !self.objects.klippy().is_ready() && !session.info_pending {
                    session.info_pending = true;
                    self.queue.push_back((Call::PrinterInfo, Asked::KlippyInfo));
                }
            }
        }
        Ok(())
    }

    /// Sends the queued calls: framed on the websocket (answers come back later), or one
    /// HTTP request each, answered at once.
    pub(super) async fn flush(&mut self, session: &mut Session) -> Result<(), SessionEnd> {
        while let Some((call, asked)) = self.queue.pop_front() {
            match &mut session.channel {
                Channel::Socket { socket, requests } => {
                    let text = requests.frame(&call, asked);
                    socket.send(text).await?;
                }
                Channel::Polling => {
                    let answer = self.http.call(&call).await?;
                    self.answer(session, asked, answer).await;
                }
            }
        }
        Ok(())
    }
}

impl Session {
    pub(super) fn new(channel: Channel) -> Session {
        Session {
            channel,
            subscribed: false,
            info_pending: false,
            last_heard: Instant::now(),
            started: Instant::now(),
        }
    }
}

/// The next frame of the websocket; never, while polling.
async fn next_frame(channel: &mut Channel) -> Result<Option<String>, SocketError> {
    match channel {
        Channel::Socket { socket, .. } => socket.next().await,
        Channel::Polling => std::future::pending().await,
    }
}

/// The upload's result once it is done (and the upload gone); never, without one.
async fn upload_done(upload: &mut Option<Upload>) -> (JobId, Result<(), StartError>) {
    let Some(running) = upload.as_mut() else {
        return std::future::pending().await;
    };
    let result = running.done.as_mut().await;
    let job = running.job;
    *upload = None;
    (job, result)
}
