//! The port thread: one OS thread per serial printer owns the port (opened once per
//! connection, never per command), runs the protocol session and the job stream, and talks
//! to the printer actor through the driver channels. On unplug or I/O error it reports the
//! cause, ends the running job `interrupted`, and reopens with backoff when the device returns.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serialport::SerialPort;
use tokio_util::sync::CancellationToken;

use super::connection::Connection;
use super::protocol::SessionConfig;
use super::stream::Scripts;
use crate::printer::driver::{DriverCommand, DriverEnd, DriverReport, Outcome};
use crate::printer::safety::Safety;

/// How long one read waits for the printer; bounds how late a command or shutdown is seen.
pub const READ_TIMEOUT: Duration = Duration::from_millis(20);
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Everything a port thread needs to know.
#[derive(Debug, Clone)]
pub struct PortSettings {
    pub printer: String,
    pub path: PathBuf,
    pub baud: u32,
    pub session: SessionConfig,
    pub safety: Safety,
    pub scripts: Scripts,
    /// Counters the thread keeps for metrics and tests.
    pub stats: std::sync::Arc<super::stats::SerialStats>,
}

/// Starts the port thread for one printer.
/// `done` is dropped when the thread ends, so the caller can wait for it without blocking.
pub fn spawn(
    settings: PortSettings,
    end: DriverEnd,
    shutdown: CancellationToken,
    done: tokio::sync::oneshot::Sender<()>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name(format!("serial-{}", settings.printer))
        .spawn(move || {
            PortThread {
                settings,
                end,
                shutdown,
                epoch: Instant::now(),
            }
            .run();
            drop(done);
        })
        .map(drop)
}

pub(super) struct PortThread {
    pub(super) settings: PortSettings,
    pub(super) end: DriverEnd,
    pub(super) shutdown: CancellationToken,
    epoch: Instant,
}

impl PortThread {
    fn run(mut self) {
        let mut backoff = BACKOFF_START;
        let mut last_reason = String::new();
        while !self.shutdown.is_cancelled() {
            let reason = match self.open() {
                Ok(port) => {
                    backoff = BACKOFF_START;
                    tracing::info!(printer = %self.settings.printer, path = %self.settings.path.display(), "serial port open");
                    Connection::new(&mut self, port).run()
                }
                Err(e) => format!("cannot open {}: {e}", self.settings.path.display()),
            };
            if self.shutdown.is_cancelled() {
                break;
            }
            if reason != last_reason {
                tracing::warn!(printer = %self.settings.printer, %reason, "printer disconnected");
                self.report(DriverReport::Disconnected {
                    reason: reason.clone(),
                });
                last_reason = reason;
            }
            self.wait_idle(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn open(&self) -> serialport::Result<Box<dyn SerialPort>> {
        let port = serialport::new(self.settings.path.to_string_lossy(), self.settings.baud)
            .timeout(READ_TIMEOUT)
            .open_native()?;
        Ok(Box::new(port))
    }

    /// Waits out a backoff while still answering commands (a job cannot start offline).
    fn wait_idle(&mut self, how_long: Duration) {
        let until = Instant::now() + how_long;
        while Instant::now() < until && !self.shutdown.is_cancelled() {
            while let Ok(command) = self.end.commands.try_recv() {
                if let DriverCommand::Start { job, .. } = command {
                    let outcome = Outcome::Failed("the printer is not connected".into());
                    self.report(DriverReport::Finished { job, outcome });
                }
            }
            std::thread::sleep(
                Duration::from_millis(100).min(until.saturating_duration_since(Instant::now())),
            );
        }
    }

    /// Milliseconds on this thread's monotonic clock.
    pub(super) fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Sends a report to the actor; waits if its inbox is full (reports must not be lost).
    pub(super) fn report(&self, report: DriverReport) {
        if self.end.reports.blocking_send(report).is_err() {
            // The actor is gone: the gateway is shutting down.
            self.shutdown.cancel();
        }
    }
}

/// Reads what is there (up to the read timeout); `Ok(0)` means the timeout passed quietly.
pub(super) fn read_some(port: &mut dyn SerialPort, buf: &mut [u8]) -> io::Result<usize> {
    match port.read(buf) {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the device hung up",
        )),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => {
            Ok(0)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

pub(super) fn write_all(port: &mut dyn SerialPort, bytes: &[u8]) -> io::Result<()> {
    port.write_all(bytes)?;
    port.flush()
}
