//! The simulated printer's thread: it holds the master side of the pseudo-terminal and
//! carries bytes between it and the [`Firmware`]. With `bytes_per_second` set, both
//! directions are paced like a UART: each byte is stamped with the millisecond its last bit
//! would arrive and handed over at that time, so the firmware sees the same arrival times
//! however late this thread gets to run. While a host is attached the thread blocks reading
//! the master until the firmware's next deadline or the next byte due on the wire, at most
//! 50 ms so requests are noticed; with nobody attached it probes every 20 ms; unplugged, it
//! only waits for requests.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort, TTYPort};

use super::device::WireCharge;
use super::device::{Reading, read_master, write_master};
use super::firmware::Firmware;
use super::wire::Wire;

/// Longest blocking read while a host is attached, so requests wait at most this long.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// How often an unattended port is checked for a host that has opened it.
const HOST_PROBE_INTERVAL: Duration = Duration::from_millis(20);
const READ_CHUNK: usize = 1024;
/// Bytes on the emulated wire above which the master is not read: the pseudo-terminal's
/// buffer then fills and the host's writes block, as they would on a slow UART.
const WIRE_BACKLOG_LIMIT: usize = 256;

/// What the thread shares with [`super::SimDevice`]'s queries.
#[derive(Debug)]
pub(super) struct Board {
    pub(super) firmware: Firmware,
    pub(super) wire: WireCharge,
    pub(super) host_connected: bool,
}

impl Board {
    pub(super) fn new(firmware: Firmware) -> Self {
        Self {
            firmware,
            wire: WireCharge::default(),
            host_connected: false,
        }
    }
}

/// The board plus a condition notified whenever `host_connected` changes.
pub(super) type SharedBoard = Arc<(Mutex<Board>, Condvar)>;

/// What the handle asks of the thread; each carries the acknowledgement to send once done.
pub(super) enum Request {
    Unplug(SyncSender<()>),
    /// A fresh master side to serve (replug): the board powers on again.
    Plug(TTYPort, SyncSender<()>),
    Reset(SyncSender<()>),
    PressKnob(SyncSender<()>),
    Stop,
}

/// Whether the cable is in, and whether a host has the other end open.
enum Port {
    Unplugged,
    Plugged { master: TTYPort, host: Host },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Absent,
    Present,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

pub(super) struct DeviceLoop {
    board: SharedBoard,
    requests: Receiver<Request>,
    port: Port,
    to_printer: Wire,
    to_host: Wire,
    epoch: Instant,
}

impl DeviceLoop {
    pub(super) fn new(board: SharedBoard, requests: Receiver<Request>, master: TTYPort) -> Self {
        let config = board
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .firmware
            .config()
            .clone();
        Self {
            board,
            requests,
            port: Port::Plugged {
                master,
                host: Host::Absent,
            },
            to_printer: Wire::new(config.clone()),
            to_host: Wire::new(config),
            epoch: Instant::now(),
        }
    }

    pub(super) fn run(mut self) {
        self.power_on();
        while self.step() == Flow::Continue {}
    }

    fn step(&mut self) -> Flow {
        match &self.port {
            Port::Unplugged => match self.requests.recv() {
                Ok(request) => self.handle(request),
                Err(_) => Flow::Stop,
            },
            Port::Plugged {
                host: Host::Absent, ..
            } => match self.requests.recv_timeout(HOST_PROBE_INTERVAL) {
                Ok(request) => self.handle(request),
                Err(RecvTimeoutError::Disconnected) => Flow::Stop,
                Err(RecvTimeoutError::Timeout) => {
                    self.probe_for_host();
                    Flow::Continue
                }
            },
            Port::Plugged {
                host: Host::Present,
                ..
            } => self.serve_host(),
        }
    }

    fn handle(&mut self, request: Request) -> Flow {
        let now = self.now();
        let ack = match request {
            Request::Stop => return Flow::Stop,
            Request::Unplug(ack) => {
                self.port = Port::Unplugged;
                self.set_host(Host::Absent);
                ack
            }
            Request::Plug(master, ack) => {
                self.port = Port::Plugged {
                    master,
                    host: Host::Absent,
                };
                self.set_host(Host::Absent);
                self.power_on();
                ack
            }
            Request::Reset(ack) => {
                let out = self.firmware(|fw| fw.reset(now));
                self.say_to_host(&out, now);
                ack
            }
            Request::PressKnob(ack) => {
                let out = self.firmware(|fw| fw.press_knob(now));
                self.say_to_host(&out, now);
                ack
            }
        };
        // The caller may have given up waiting; the request is done either way.
        let _ = ack.send(());
        Flow::Continue
    }

    /// Output for the host if one is attached; with nobody listening it is lost.
    fn say_to_host(&mut self, out: &[u8], now: u64) {
        if matches!(
            self.port,
            Port::Plugged {
                host: Host::Present,
                ..
            }
        ) {
            self.to_host.push(out, now);
        }
    }

    /// The board boots as the cable goes in; nobody has the port open to hear it.
    fn power_on(&mut self) {
        let now = self.now();
        let _unheard = self.firmware(|fw| fw.reset(now));
    }

    /// With nobody attached the master reads fail; a read that does not is a host that has
    /// just opened the port (the DTR pulse a pseudo-terminal lacks).
    fn probe_for_host(&mut self) {
        let now = self.now();
        // Time goes on without a listener; what the printer says meanwhile is lost.
        let _unheard = self.firmware(|fw| fw.poll(now));
        let Port::Plugged { master, .. } = &mut self.port else {
            return;
        };
        let mut buf = [0; READ_CHUNK];
        let first_bytes = match read_master(master, Duration::ZERO, &mut buf) {
            Reading::Bytes(n) => &buf[..n],
            Reading::Nothing => &[][..],
            Reading::HostGone => return,
        };
        let out = self.firmware(|fw| fw.open(now));
        self.to_host.push(&out, now);
        self.to_printer.push(first_bytes, now);
        self.set_host(Host::Present);
    }

    fn serve_host(&mut self) -> Flow {
        loop {
            match self.requests.try_recv() {
                Ok(request) => {
                    if self.handle(request) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Flow::Stop,
            }
        }
        if !matches!(
            self.port,
            Port::Plugged {
                host: Host::Present,
                ..
            }
        ) {
            return Flow::Continue;
        }
        let now = self.now();
        self.deliver_to_printer(now);
        let out = self.firmware(|fw| fw.poll(now));
        self.to_host.push(&out, now);
        self.deliver_to_host(now);
        self.listen(now);
        Flow::Continue
    }

    /// Hands the firmware every byte whose wire time is over, at its arrival time.
    fn deliver_to_printer(&mut self, now: u64) {
        while let Some((at, bytes)) = self.to_printer.take_arrived(now) {
            let out = self.firmware(|fw| fw.receive(&bytes, at));
            self.to_host.push(&out, at);
        }
    }

    /// Writes every byte whose wire time is over to the host. Once a write times out (the
    /// host is not reading) the rest of this round is lost rather than waited for.
    fn deliver_to_host(&mut self, now: u64) {
        let Port::Plugged { master, .. } = &mut self.port else {
            return;
        };
        let mut host_reads = true;
        let mut host_gone = false;
        while let Some((_, bytes)) = self.to_host.take_arrived(now) {
            if !host_reads {
                continue;
            }
            match write_master(master, &bytes) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => host_reads = false,
                Err(_) => {
                    host_gone = true;
                    break;
                }
            }
        }
        self.publish_wire_charge();
        if host_gone {
            self.host_left();
        }
    }

    /// Blocks until the host sends, something is due, or `MAX_WAIT` has passed.
    fn listen(&mut self, now: u64) {
        let wait = self.time_to_next_event(now);
        let Port::Plugged { master, .. } = &mut self.port else {
            return;
        };
        if self.to_printer.backlog() >= WIRE_BACKLOG_LIMIT {
            std::thread::sleep(wait);
            return;
        }
        let mut buf = [0; READ_CHUNK];
        match read_master(master, wait, &mut buf) {
            Reading::Bytes(n) => {
                let now = self.now();
                self.to_printer.push(&buf[..n], now);
            }
            Reading::Nothing => {}
            Reading::HostGone => self.host_left(),
        }
    }

    fn time_to_next_event(&self, now: u64) -> Duration {
        let firmware = self
            .board
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .firmware
            .next_deadline();
        [
            firmware,
            self.to_printer.next_arrival(),
            self.to_host.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map_or(MAX_WAIT, |at| {
            Duration::from_millis(at.saturating_sub(now)).min(MAX_WAIT)
        })
    }

    /// The host closed the port: bytes on the wire and any it sent but the device never read
    /// are lost, as when a real host closes its port.
    fn host_left(&mut self) {
        if let Port::Plugged { master, .. } = &mut self.port {
            // A master that cannot be flushed is about to fail its reads too; nothing to do.
            let _ = master.clear(ClearBuffer::Input);
        }
        self.set_host(Host::Absent);
    }

    fn set_host(&mut self, new: Host) {
        if let Port::Plugged { host, .. } = &mut self.port {
            *host = new;
        }
        if new == Host::Absent {
            self.to_printer.clear();
            self.to_host.clear();
        }
        let (lock, changed) = &*self.board;
        lock.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .host_connected = new == Host::Present;
        changed.notify_all();
    }

    fn publish_wire_charge(&self) {
        let charge = WireCharge {
            to_printer_ms: self.to_printer.charged_ms,
            to_host_ms: self.to_host.charged_ms,
        };
        self.board
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wire = charge;
    }

    fn firmware<R>(&self, f: impl FnOnce(&mut Firmware) -> R) -> R {
        f(&mut self
            .board
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .firmware)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
