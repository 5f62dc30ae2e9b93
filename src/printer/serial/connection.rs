//! One open connection to a serial printer: the read loop that feeds the protocol session,
//! performs its actions, runs the job stream and answers the actor's commands. It returns
//! (with the reason) when the port fails, so the port thread can reopen it.

use std::collections::VecDeque;

use serialport::SerialPort;

use super::port::{PortThread, read_some, write_all};
use super::protocol::{self, Action, FirmwareErrorKind, Heater, Session, SessionEvent};
use super::stats::AckClock;
use super::stream::{ActiveJob, JobNews, push_script};
use crate::domain::{JobId, Temperature, Temperatures};
use crate::printer::driver::{DriverCommand, DriverReport, Outcome};

/// Temperatures are polled with M105 this often when the firmware cannot auto-report.
const TEMPERATURE_POLL_MS: u64 = 2_000;
/// At most one temperature report per second reaches the actor.
const TEMPERATURE_REPORT_MS: u64 = 1_000;
/// Longest wait for an AVR board's `start` after the port opens.
const BOOT_WAIT_MS: u64 = 2_500;
/// After `start`, boot lines count as over after this long without a byte.
const BOOT_QUIET_MS: u64 = 150;
/// Longest line kept from the firmware; longer garbage is cut (a noisy line must not grow
/// memory without bound).
const MAX_REPLY_BYTES: usize = 1024;

pub(super) struct Connection<'t> {
    thread: &'t mut PortThread,
    port: Box<dyn SerialPort>,
    session: Session,
    job: Option<ActiveJob>,
    pending: Vec<u8>,
    autoreport: bool,
    next_poll: u64,
    last_temperatures: Option<u64>,
    ack_clock: AckClock,
}

type Lost = String;

impl<'t> Connection<'t> {
    pub(super) fn new(thread: &'t mut PortThread, port: Box<dyn SerialPort>) -> Connection<'t> {
        let session = Session::new(thread.settings.session.clone());
        Connection {
            thread,
            port,
            session,
            job: None,
            pending: Vec::with_capacity(256),
            autoreport: false,
            next_poll: 0,
            last_temperatures: None,
            ack_clock: AckClock::new(),
        }
    }

    /// Runs until the port fails or the gateway stops; returns why.
    pub(super) fn run(mut self) -> String {
        match self.serve() {
            Ok(()) => "the gateway is stopping".into(),
            Err(reason) => {
                if let Some(job) = self.job.take() {
                    if let Some(point) = job.journal_now() {
                        self.thread
                            .report(DriverReport::Journal { job: job.id, point });
                    }
                    let outcome = Outcome::Interrupted(reason.clone());
                    self.thread.report(DriverReport::Finished {
                        job: job.id,
                        outcome,
                    });
                }
                reason
            }
        }
    }

    fn serve(&mut self) -> Result<(), Lost> {
        self.wait_for_boot()?;
        let actions = self.session.connect(self.thread.now());
        self.perform(actions)?;
        let mut buf = [0u8; 512];
        while !self.thread.shutdown.is_cancelled() {
            while let Ok(command) = self.thread.end.commands.try_recv() {
                self.on_command(command)?;
            }
            self.step_job()?;
            self.poll_temperatures()?;
            let actions = self.session.tick(self.thread.now());
            self.perform(actions)?;
            let n = read_some(self.port.as_mut(), &mut buf)
                .map_err(|e| format!("serial I/O error: {e}"))?;
            self.received(&buf[..n])?;
        }
        Ok(())
    }

    /// AVR boards reset when the port opens and print `start` after their bootloader; a
    /// handshake sent before that is lost or, worse, answered twice. Wait (bounded) for
    /// `start` and the boot lines after it to go quiet; a board that does not reset (native
    /// USB) stays silent, and the handshake goes out when the bound passes.
    fn wait_for_boot(&mut self) -> Result<(), Lost> {
        let opened = self.thread.now();
        let mut started = false;
        let mut last_heard = opened;
        let mut buf = [0u8; 256];
        loop {
            let now = self.thread.now();
            let quiet = now.saturating_sub(last_heard) >= BOOT_QUIET_MS;
            if (started && quiet)
                || now.saturating_sub(opened) >= BOOT_WAIT_MS
                || self.thread.shutdown.is_cancelled()
            {
                self.pending.clear();
                return Ok(());
            }
            let n = read_some(self.port.as_mut(), &mut buf)
                .map_err(|e| format!("serial I/O error: {e}"))?;
            if n > 0 {
                last_heard = self.thread.now();
            }
            for &byte in &buf[..n] {
                if byte == b'\n' || byte == b'\r' {
                    started |= self.pending.trim_ascii() == b"start";
                    self.pending.clear();
                } else if self.pending.len() < MAX_REPLY_BYTES {
                    self.pending.push(byte);
                }
            }
        }
    }

    fn received(&mut self, bytes: &[u8]) -> Result<(), Lost> {
        for &byte in bytes {
            match byte {
                b'\n' | b'\r' if !self.pending.is_empty() => {
                    let line = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    let actions = self.session.handle_line(&line, self.thread.now());
                    self.perform(actions)?;
                }
                b'\n' | b'\r' => {}
                _ if self.pending.len() < MAX_REPLY_BYTES => self.pending.push(byte),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes and handles the session's actions, and those that handling them causes.
    fn perform(&mut self, actions: Vec<Action>) -> Result<(), Lost> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Write(bytes) => {
                    write_all(self.port.as_mut(), &bytes)
                        .map_err(|e| format!("serial write failed: {e}"))?;
                    self.thread.settings.stats.wrote(bytes.len());
                    self.ack_clock.wrote(&bytes, &self.thread.settings.stats);
                }
                Action::Event(event) => queue.extend(self.on_event(event)?),
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: SessionEvent) -> Result<Vec<Action>, Lost> {
        let now = self.thread.now();
        let printer = self.thread.settings.printer.clone();
        let mut out = Vec::new();
        match event {
            SessionEvent::Connected => {
                self.thread
                    .settings
                    .stats
                    .flow(self.session.flow_control(), false);
                push_script(&mut self.session, &["M115".to_owned()], now, &mut out);
                self.thread.report(DriverReport::Connected);
            }
            SessionEvent::Acked { line } => {
                self.thread.settings.stats.acked();
                self.ack_clock.acked(line, &self.thread.settings.stats);
                if let Some(job) = &mut self.job {
                    job.acked(line);
                }
            }
            SessionEvent::Temperatures(t) => self.temperatures(&t, now),
            SessionEvent::FirmwareInfo(info) => {
                tracing::info!(%printer, firmware = %info.name, "printer firmware");
            }
            SessionEvent::Capability { name, enabled } => {
                if name == "AUTOREPORT_TEMP" && enabled && !self.autoreport {
                    self.autoreport = true;
                    push_script(&mut self.session, &["M155 S2".to_owned()], now, &mut out);
                }
            }
            SessionEvent::FlowControlChanged { from, to, reason } => {
                self.thread.settings.stats.flow(to, true);
                tracing::warn!(%printer, ?from, ?to, ?reason, "flow control fell back");
            }
            SessionEvent::FlowControlRestored { to } => {
                self.thread.settings.stats.flow(to, false);
                tracing::info!(%printer, ?to, "flow control restored after clean lines");
            }
            SessionEvent::Timeout(kind) => {
                self.thread.settings.stats.timed_out();
                tracing::warn!(%printer, ?kind, "printer did not answer in time");
            }
            SessionEvent::Stalled {
                line,
                cause,
                silent_ms,
            } => {
                self.thread.settings.stats.stalled();
                tracing::warn!(
                    %printer, line, ?cause, silent_ms,
                    "printer stalled: sending the line again for its line check to settle"
                );
            }
            SessionEvent::Resynced { stalled_ms } => {
                self.thread.settings.stats.stall_ended(stalled_ms);
                tracing::info!(%printer, stalled_ms, "stall over: the printer answered");
            }
            SessionEvent::Warning(e) => {
                if matches!(
                    e.kind,
                    FirmwareErrorKind::Checksum { .. }
                        | FirmwareErrorKind::LineNumber { .. }
                        | FirmwareErrorKind::MissingChecksum { .. }
                ) {
                    self.thread.settings.stats.resend_requested();
                }
                tracing::warn!(%printer, error = %e.message, "printer complained");
            }
            SessionEvent::Fatal(e) => {
                tracing::error!(%printer, error = %e.message, "printer halted");
                self.job = None; // the actor fails the job on the fault
                self.thread
                    .report(DriverReport::Fault { message: e.message });
            }
            SessionEvent::ProtocolFailed(e) => return Err(format!("protocol failure: {e}")),
            SessionEvent::PrinterReset => {
                if let Some(job) = self.job.take() {
                    let outcome =
                        Outcome::Interrupted("the printer restarted during the job".into());
                    self.thread.report(DriverReport::Finished {
                        job: job.id,
                        outcome,
                    });
                }
            }
            SessionEvent::Busy(_) | SessionEvent::Echo(_) | SessionEvent::HostAction(_) => {}
        }
        Ok(out)
    }

    fn on_command(&mut self, command: DriverCommand) -> Result<(), Lost> {
        let now = self.thread.now();
        let scripts = self.thread.settings.scripts.clone();
        let mut out = Vec::new();
        match command {
            DriverCommand::Start { job, file, .. } => {
                let opened = ActiveJob::open(job, &file);
                self.take_job(job, &file, opened);
            }
            DriverCommand::Recover {
                job,
                file,
                layer,
                prologue,
            } => {
                let opened = ActiveJob::resumed(job, &file, &layer, prologue);
                self.take_job(job, &file, opened);
            }
            DriverCommand::Pause => self.job.iter_mut().for_each(ActiveJob::pause),
            DriverCommand::Resume => {
                if let Some(job) = &mut self.job
                    && job.resume(&mut self.session, &scripts, now, &mut out)
                {
                    self.thread.report(DriverReport::Resumed { job: job.id });
                }
            }
            DriverCommand::Cancel => {
                if let Some(job) = &mut self.job {
                    job.end(
                        Outcome::Cancelled,
                        &mut self.session,
                        &scripts,
                        now,
                        &mut out,
                    );
                }
            }
            DriverCommand::EmergencyStop => {
                out.extend(self.session.send_now("M112"));
                if let Some(job) = self.job.take() {
                    let outcome = Outcome::Failed("emergency stop".into());
                    self.thread.report(DriverReport::Finished {
                        job: job.id,
                        outcome,
                    });
                }
            }
            // A serial print dies with the gateway: it cannot be followed after a restart.
            DriverCommand::Reattach { job } => {
                let reason = "the serial driver cannot re-attach to a print".to_owned();
                self.thread.report(DriverReport::Finished {
                    job,
                    outcome: Outcome::Interrupted(reason),
                });
            }
        }
        self.perform(out)
    }

    /// Puts a job (started or resumed) on the printer, or fails it with the reason.
    fn take_job(&mut self, job: JobId, file: &std::path::Path, opened: std::io::Result<ActiveJob>) {
        let refused = if self.job.is_some() {
            Some("another job is on the printer".to_owned())
        } else if !self.session.is_ready() {
            Some("the printer is not ready".to_owned())
        } else {
            match opened {
                Ok(active) => {
                    self.job = Some(active);
                    None
                }
                Err(e) => Some(format!("cannot read {}: {e}", file.display())),
            }
        };
        if let Some(reason) = refused {
            self.thread.report(DriverReport::Finished {
                job,
                outcome: Outcome::Failed(reason),
            });
        }
    }

    fn step_job(&mut self) -> Result<(), Lost> {
        let Some(job) = &mut self.job else {
            return Ok(());
        };
        let mut out = Vec::new();
        let settings = &self.thread.settings;
        let news = job.step(
            &mut self.session,
            &settings.safety,
            &settings.scripts,
            self.thread.now(),
            &mut out,
        );
        let id = job.id;
        if let Some(point) = job.journal_due(self.thread.now()) {
            self.thread.report(DriverReport::Journal { job: id, point });
        }
        match news {
            Some(JobNews::Progress(progress)) => self
                .thread
                .report(DriverReport::Progress { job: id, progress }),
            Some(JobNews::Paused) => self.thread.report(DriverReport::Paused { job: id }),
            Some(JobNews::Finished(outcome)) => {
                self.job = None;
                self.thread
                    .report(DriverReport::Finished { job: id, outcome });
            }
            None => {}
        }
        self.perform(out)
    }

    fn poll_temperatures(&mut self) -> Result<(), Lost> {
        let now = self.thread.now();
        if self.autoreport || !self.session.is_ready() || now < self.next_poll {
            return Ok(());
        }
        self.next_poll = now + TEMPERATURE_POLL_MS;
        let mut out = Vec::new();
        push_script(&mut self.session, &["M105".to_owned()], now, &mut out);
        self.perform(out)
    }

    fn temperatures(&mut self, t: &protocol::Temperatures, now: u64) {
        if self
            .last_temperatures
            .is_some_and(|at| now < at + TEMPERATURE_REPORT_MS)
        {
            return;
        }
        self.last_temperatures = Some(now);
        let reading = |r: protocol::Reading| Temperature {
            actual_c: f64::from(r.actual),
            target_c: r.target.map(f64::from),
        };
        let mut hotends: Vec<(u8, Temperature)> = t
            .readings
            .iter()
            .filter_map(|r| match r.heater {
                Heater::Hotend(i) => Some((i, reading(*r))),
                _ => None,
            })
            .collect();
        hotends.sort_by_key(|(i, _)| *i);
        let temperatures = Temperatures {
            hotends: hotends.into_iter().map(|(_, t)| t).collect(),
            bed: t.bed().map(reading),
        };
        self.thread.report(DriverReport::Temperatures(temperatures));
    }
}
