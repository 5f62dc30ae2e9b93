//! The vocabulary of the [`Session`](super::Session): its configuration, what it asks the
//! port thread to do ([`Action`]) and what it reports ([`SessionEvent`]).

use super::error::FirmwareError;
use super::firmware::FirmwareInfo;
use super::reply::BusyKind;
use super::temps::Temperatures;

/// How many lines may be on their way to the firmware at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowControl {
    /// One line, then wait for its `ok`. Always safe.
    PingPong,
    /// Character counting: keep up to `max_in_flight` lines and `rx_buffer_bytes` bytes
    /// unacknowledged, so the firmware never starves between two moves.
    Windowed {
        rx_buffer_bytes: usize,
        max_in_flight: usize,
    },
}

impl FlowControl {
    /// Marlin defaults: a 128-byte ring buffer holds 127 bytes, `BUFSIZE` is 4.
    pub const MARLIN_WINDOW: FlowControl = FlowControl::Windowed {
        rx_buffer_bytes: 127,
        max_in_flight: 4,
    };
}

/// Tunables of one session; times are milliseconds of the caller's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub flow_control: FlowControl,
    /// Sent lines kept for `Resend:`; values below 256 are raised to 256.
    pub history_lines: usize,
    /// Longest wait for an `ok` with no sign of life from the firmware: only a command known
    /// to take long, on a firmware without `busy:` keepalives, waits this long (see
    /// `liveness`); a stall is otherwise declared in seconds.
    pub ok_timeout_ms: u64,
    /// Wait for the `M110` handshake `ok` before trying again.
    pub handshake_timeout_ms: u64,
    /// After a `Resend:`, how long the line must stay quiet before rewinding when the
    /// firmware does not send the `ok` that Marlin appends to a resend request.
    pub resend_quiet_ms: u64,
    /// Longest wire line (number, checksum and newline included); Marlin's `MAX_CMD_SIZE` is 96.
    pub max_line_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            flow_control: FlowControl::PingPong,
            history_lines: 256,
            ok_timeout_ms: 30_000,
            handshake_timeout_ms: 5_000,
            resend_quiet_ms: 500,
            max_line_bytes: 96,
        }
    }
}

/// What the port thread must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write these bytes to the port.
    Write(Vec<u8>),
    Event(SessionEvent),
}

/// Why windowed streaming was given up for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    Resend,
    Timeout,
}

/// What showed that a line's `ok` will not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallCause {
    /// Nothing (no `ok`, no keepalive) for the deadline learned from the firmware.
    Silence,
    /// A Repetier-style `wait`: the firmware is idle and waiting for input.
    Wait,
    /// An `Error:` about a line with no `Resend:` after it.
    Complaint,
}

/// What a timeout was waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The `M110` handshake got no `ok`; it is being sent again.
    Handshake,
    /// No `ok` for this line; it is being sent again.
    Ok { line: u32 },
}

/// What happened, for the streamer, the printer actor and the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The handshake succeeded: lines may be pushed, numbering starts at 1.
    Connected,
    /// The firmware processed this line (each line is reported once, in order).
    Acked {
        line: u32,
    },
    Temperatures(Temperatures),
    FirmwareInfo(FirmwareInfo),
    Capability {
        name: String,
        enabled: bool,
    },
    FlowControlChanged {
        from: FlowControl,
        to: FlowControl,
        reason: FallbackReason,
    },
    /// Enough lines went through cleanly since the last fallback: back to the configured
    /// windowed streaming.
    FlowControlRestored {
        to: FlowControl,
    },
    /// The firmware is alive and working on a long command.
    Busy(BusyKind),
    Timeout(TimeoutKind),
    /// A line's `ok` will not come: the oldest line in flight is being sent again so the
    /// firmware's line check either takes it (it was lost) or refuses the copy (it was
    /// taken, only its `ok` was lost). `silent_ms`: time since the last sign of life.
    Stalled {
        line: u32,
        cause: StallCause,
        silent_ms: u64,
    },
    /// The firmware answered the probe: host and firmware agree again on the next line.
    /// `stalled_ms`: from the last sign of life before the stall to now.
    Resynced {
        stalled_ms: u64,
    },
    /// A non-fatal firmware complaint (transmission error, unknown command, …).
    Warning(FirmwareError),
    /// The printer halted; nothing more will be sent until `connect` is called again.
    Fatal(FirmwareError),
    /// Host and firmware disagree beyond repair; nothing more will be sent.
    ProtocolFailed(ProtocolError),
    /// The board rebooted (`start`) after the handshake: every line in flight is lost and
    /// the session is handshaking again.
    PrinterReset,
    Echo(String),
    HostAction(String),
}

/// A disagreement between host and firmware that no resend can fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("firmware asked for line {requested}, but the oldest line kept is {oldest}")]
    ResendOutOfHistory { requested: u32, oldest: u32 },
    #[error("firmware asked for line {requested}, but only lines up to {last_sent} were sent")]
    ResendBeyondSent { requested: u32, last_sent: u32 },
}

/// Why a line was not accepted by [`Session::push_line`](super::Session::push_line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session is not connected yet")]
    NotReady,
    #[error("the session stopped: {0}")]
    Halted(#[source] Halt),
    #[error("a line must not contain a line break")]
    EmbeddedNewline,
    #[error("line is {len} bytes on the wire, the firmware accepts at most {max}")]
    LineTooLong { len: usize, max: usize },
}

/// Why a session stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Halt {
    #[error(transparent)]
    Firmware(FirmwareError),
    #[error(transparent)]
    Protocol(ProtocolError),
}

/// A line accepted by [`Session::push_line`](super::Session::push_line).
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// The line number it was given; `None` for a blank or comment-only line (not sent).
    pub line: Option<u32>,
    pub actions: Vec<Action>,
}
