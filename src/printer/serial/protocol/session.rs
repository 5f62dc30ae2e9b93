//! The sans-IO host side of the Marlin serial protocol for one connection.
//!
//! The port thread calls [`Session::connect`] after opening the port, feeds every received
//! line to [`Session::handle_line`], calls [`Session::tick`] when its read times out, and
//! pushes job lines while [`Session::wants_more`] is true. Every call returns the
//! [`Action`]s to perform, in order: bytes to write and events to forward. Time is the
//! caller's monotonic clock in milliseconds; the session never reads a clock itself.

use super::error::FirmwareError;
use super::event::{
    Action, FlowControl, Halt, Pushed, SessionConfig, SessionError, SessionEvent, TimeoutKind,
};
use super::line;
use super::liveness;
use super::reply::Reply;
use super::stream::Stream;

/// `M110 N0` as line 0: it resets the firmware's numbering so job lines start at `N1`.
const HANDSHAKE: &str = "M110 N0";

enum Link {
    /// `connect` was not called yet.
    Closed,
    /// `M110` sent, waiting for its `ok`. `rejected`: an `Error:`/`Resend:` came first, so
    /// the next `ok` belongs to the rejection and the handshake must be sent again.
    Handshaking {
        deadline: u64,
        rejected: bool,
    },
    Ready,
    Halted(Halt),
}

pub struct Session {
    config: SessionConfig,
    link: Link,
    stream: Stream,
    /// The line being numbered: the stream keeps a copy, so one buffer serves every line.
    wire: Vec<u8>,
}

impl Session {
    pub fn new(config: SessionConfig) -> Session {
        let stream = Stream::new(&config);
        Session {
            config,
            link: Link::Closed,
            stream,
            wire: Vec::new(),
        }
    }

    /// Starts (or restarts) the connection: forgets every line and sends the handshake.
    /// AVR boards reset when the port opens and swallow it; their `start` triggers a retry.
    pub fn connect(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        self.start_handshake(now, &mut out);
        out
    }

    /// True once the handshake succeeded and until the printer halts.
    pub fn is_ready(&self) -> bool {
        matches!(self.link, Link::Ready)
    }

    /// Why the session stopped, if it did.
    pub fn halt(&self) -> Option<&Halt> {
        match &self.link {
            Link::Halted(halt) => Some(halt),
            _ => None,
        }
    }

    /// True when a line pushed now would be written at once: the streamer reads and pushes
    /// lines while this holds, so the whole file is never buffered.
    pub fn wants_more(&self) -> bool {
        self.is_ready() && self.stream.wants_more()
    }

    /// True when every pushed line was acknowledged and no recovery is under way.
    pub fn is_idle(&self) -> bool {
        self.stream.is_idle()
    }

    /// The flow control in use (windowed falls back to ping-pong after trouble).
    pub fn flow_control(&self) -> FlowControl {
        self.stream.flow()
    }

    /// Lines written and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.stream.in_flight()
    }

    /// The highest line number reported as [`SessionEvent::Acked`] (0 before any).
    pub fn acked_through(&self) -> u32 {
        self.stream.acked_through()
    }

    /// Cleans, numbers and queues one line (a trailing line ending is allowed); it is written
    /// at once if the window allows, else as soon as it does. Blank and comment-only lines
    /// take no number.
    pub fn push_line(&mut self, raw: &str, now: u64) -> Result<Pushed, SessionError> {
        match &self.link {
            Link::Ready => {}
            Link::Halted(halt) => return Err(SessionError::Halted(halt.clone())),
            Link::Closed | Link::Handshaking { .. } => return Err(SessionError::NotReady),
        }
        // A line ending read along with the line is fine; one inside it is not.
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.contains(['\n', '\r']) {
            return Err(SessionError::EmbeddedNewline);
        }
        let Some(cmd) = line::clean(raw) else {
            return Ok(Pushed {
                line: None,
                actions: Vec::new(),
            });
        };
        let number = self.stream.next_number();
        line::numbered_into(number, cmd, &mut self.wire);
        if self.wire.len() > self.config.max_line_bytes {
            return Err(SessionError::LineTooLong {
                len: self.wire.len(),
                max: self.config.max_line_bytes,
            });
        }
        if let Some(interval) = liveness::m113_interval(cmd) {
            self.stream.set_keepalive(interval);
        }
        let mut actions = Vec::new();
        self.stream
            .push(&self.wire, liveness::is_long(cmd), now, &mut actions);
        Ok(Pushed {
            line: Some(number),
            actions,
        })
    }

    /// Writes a command at once, unnumbered and untracked: `M112` must not queue behind a
    /// full buffer. Works in any state.
    pub fn send_now(&mut self, cmd: &str) -> Vec<Action> {
        let cmd = line::clean(cmd).unwrap_or("");
        if cmd.is_empty() || cmd.contains(['\n', '\r']) {
            return Vec::new();
        }
        vec![Action::Write(line::plain(cmd))]
    }

    /// Handles one line received from the firmware.
    pub fn handle_line(&mut self, text: &str, now: u64) -> Vec<Action> {
        self.handle_reply(Reply::parse(text), now)
    }

    /// Handles one already parsed reply.
    pub fn handle_reply(&mut self, reply: Reply, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        match reply {
            Reply::Ok {
                line,
                buffer,
                temps,
                ..
            } => {
                if let Some(temps) = temps {
                    out.push(Action::Event(SessionEvent::Temperatures(temps)));
                }
                self.on_ok(line, buffer, now, &mut out);
            }
            Reply::Resend(number) => self.on_resend(number, now, &mut out),
            Reply::Error(error) => self.on_error(error, now, &mut out),
            Reply::Busy(kind) => {
                match &mut self.link {
                    Link::Handshaking { deadline, .. } => {
                        *deadline = now + self.config.handshake_timeout_ms
                    }
                    Link::Ready => self.stream.on_busy(now),
                    Link::Closed | Link::Halted(_) => {}
                }
                out.push(Action::Event(SessionEvent::Busy(kind)));
            }
            Reply::Start => self.on_start(now, &mut out),
            Reply::Wait => {
                if self.is_ready() {
                    self.stream.on_wait(now, &mut out);
                }
            }
            Reply::Other(_) => {}
            Reply::Echo(text) => out.push(Action::Event(SessionEvent::Echo(text))),
            Reply::HostAction(action) => out.push(Action::Event(SessionEvent::HostAction(action))),
            Reply::Temperatures(temps) => {
                out.push(Action::Event(SessionEvent::Temperatures(temps)))
            }
            Reply::Heating(temps) => {
                if self.is_ready() {
                    self.stream.on_heating(now);
                }
                out.push(Action::Event(SessionEvent::Temperatures(temps)))
            }
            Reply::FirmwareInfo(info) => out.push(Action::Event(SessionEvent::FirmwareInfo(info))),
            Reply::Capability { name, enabled } => {
                out.push(Action::Event(SessionEvent::Capability { name, enabled }));
            }
        }
        out
    }

    /// Lets timeouts fire: call it whenever a read returns nothing (every 100 ms or so).
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        match self.link {
            Link::Handshaking { deadline, .. } if now >= deadline => {
                out.push(Action::Event(SessionEvent::Timeout(TimeoutKind::Handshake)));
                self.send_handshake(now, &mut out);
            }
            Link::Ready => self.stream.tick(now, &mut out),
            _ => {}
        }
        out
    }

    fn on_ok(&mut self, line: Option<u32>, buffer: Option<u32>, now: u64, out: &mut Vec<Action>) {
        match self.link {
            Link::Handshaking { rejected: true, .. } => self.send_handshake(now, out),
            Link::Handshaking {
                rejected: false, ..
            } => {
                self.link = Link::Ready;
                out.push(Action::Event(SessionEvent::Connected));
            }
            Link::Ready => self.stream.on_ok(line, buffer, now, out),
            Link::Closed | Link::Halted(_) => {}
        }
    }

    fn on_resend(&mut self, number: u32, now: u64, out: &mut Vec<Action>) {
        match &mut self.link {
            Link::Handshaking { rejected, .. } => *rejected = true,
            Link::Ready => {
                if let Err(error) = self.stream.on_resend(number, now, out) {
                    self.fail(Halt::Protocol(error.clone()));
                    out.push(Action::Event(SessionEvent::ProtocolFailed(error)));
                }
            }
            Link::Closed | Link::Halted(_) => {}
        }
    }

    fn on_error(&mut self, error: FirmwareError, now: u64, out: &mut Vec<Action>) {
        if error.is_fatal() {
            // Marlin prints the cause, then `kill() called!`: report only the first.
            if !matches!(self.link, Link::Halted(_)) {
                self.fail(Halt::Firmware(error.clone()));
                out.push(Action::Event(SessionEvent::Fatal(error)));
            }
            return;
        }
        match &mut self.link {
            Link::Handshaking { rejected, .. } => *rejected = true,
            Link::Ready => self.stream.on_error_line(now),
            Link::Closed | Link::Halted(_) => {}
        }
        out.push(Action::Event(SessionEvent::Warning(error)));
    }

    fn on_start(&mut self, now: u64, out: &mut Vec<Action>) {
        match self.link {
            Link::Closed => {}
            Link::Handshaking { .. } => self.send_handshake(now, out),
            Link::Ready | Link::Halted(_) => {
                out.push(Action::Event(SessionEvent::PrinterReset));
                self.start_handshake(now, out);
            }
        }
    }

    fn fail(&mut self, halt: Halt) {
        self.link = Link::Halted(halt);
        self.stream.restart(&self.config);
    }

    fn start_handshake(&mut self, now: u64, out: &mut Vec<Action>) {
        self.stream.restart(&self.config);
        self.send_handshake(now, out);
    }

    fn send_handshake(&mut self, now: u64, out: &mut Vec<Action>) {
        self.link = Link::Handshaking {
            deadline: now + self.config.handshake_timeout_ms,
            rejected: false,
        };
        out.push(Action::Write(line::numbered(0, HANDSHAKE)));
    }
}
