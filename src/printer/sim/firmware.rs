//! The simulated firmware's outer loop: bytes in, bytes out, time passed in as a monotonic
//! millisecond count. Received bytes go through the emergency parser, a receive buffer of
//! `rx_buffer_bytes` (overflow is dropped while the command queue is full, as on a real
//! board), the line checks, and a command queue of `bufsize` slots; `exec` runs the queue.
//! Nothing here reads a clock, sleeps or touches I/O: the caller owns time and the port.

use std::collections::VecDeque;

use super::exec::Exec;
use super::inject::LineCorruption;
use super::line::{EmergencyParser, LineAssembler};
use super::motion::{Motion, Position};
use super::record::{AcceptedCommand, Record};
use super::replies::{KillReason, boot_banner, kill_lines};
use super::thermal::{HeaterState, Thermal};
use super::timers::Timers;
use crate::config::{FirmwareFlavor, SimConfig, SimConfigError};

/// Whether the board runs, boots, or has halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Power {
    Running,
    /// In the bootloader after a reset: received bytes are lost until `ready_at`.
    Booting {
        ready_at: u64,
    },
    /// Halted by `kill()`: deaf and mute until reset.
    Killed(KillReason),
}

/// A command waiting in (or executing at the head of) the command queue.
#[derive(Debug, Clone)]
pub(super) struct QueuedCommand {
    pub(super) line: Option<i64>,
    pub(super) text: String,
}

/// A simulated Marlin-family printer as a sans-IO state machine.
#[derive(Debug)]
pub struct Firmware {
    pub(super) config: SimConfig,
    pub(super) clock: u64,
    started: bool,
    pub(super) power: Power,
    pub(super) rx: VecDeque<u8>,
    pub(super) assembler: LineAssembler,
    pub(super) emergency: EmergencyParser,
    pub(super) last_line: i64,
    pub(super) queue: VecDeque<QueuedCommand>,
    pub(super) exec: Exec,
    pub(super) motion: Motion,
    pub(super) thermal: Thermal,
    pub(super) timers: Timers,
    pub(super) corruption: LineCorruption,
    pub(super) record: Record,
    pub(super) dropped_bytes: u64,
    out: Vec<u8>,
}

impl Firmware {
    /// A powered, running printer (no banner until [`Firmware::open`] resets it).
    pub fn new(config: SimConfig) -> Result<Self, SimConfigError> {
        config.validate()?;
        Ok(Self {
            clock: 0,
            started: false,
            power: Power::Running,
            rx: VecDeque::with_capacity(config.rx_buffer_bytes),
            assembler: LineAssembler::default(),
            emergency: EmergencyParser::default(),
            last_line: 0,
            queue: VecDeque::with_capacity(config.bufsize),
            exec: Exec::Idle,
            motion: Motion::new(config.planner_depth, config.speed_up),
            thermal: Thermal::new(&config),
            timers: Timers::new(&config, 0),
            corruption: LineCorruption::new(
                config.corrupt_every,
                config.corrupt_seed,
                &config.corrupt_lines,
                &config.lose_lines,
            )
            .losing_oks(&config.lose_oks),
            record: Record::new(config.record_commands),
            dropped_bytes: 0,
            out: Vec::new(),
            config,
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The host opened the port: boards with `reset_on_open` reboot and print their banner
    /// (now, or after `boot_ms`); others carry on where they were.
    #[must_use = "the output is what the printer sent to the host"]
    pub fn open(&mut self, now: u64) -> Vec<u8> {
        self.run_until(now);
        if self.config.reset_on_open {
            self.reboot();
        }
        self.settle();
        self.take_output()
    }

    /// A hardware reset (reset button, DTR pulse): the only way out of a halt.
    #[must_use = "the output is what the printer sent to the host"]
    pub fn reset(&mut self, now: u64) -> Vec<u8> {
        self.run_until(now);
        self.reboot();
        self.settle();
        self.take_output()
    }

    /// Bytes from the host, all arriving at `now`. Pace large writes with
    /// [`SimConfig::wire_time_ms`]: a burst lands at once and can overrun the receive buffer.
    #[must_use = "the output is what the printer sent to the host"]
    pub fn receive(&mut self, bytes: &[u8], now: u64) -> Vec<u8> {
        self.run_until(now);
        for &byte in bytes {
            self.feed(byte);
            if byte == b'\n' || byte == b'\r' {
                self.settle();
            }
        }
        self.settle();
        self.take_output()
    }

    /// Lets time pass until `now` and returns what the printer printed meanwhile.
    #[must_use = "the output is what the printer sent to the host"]
    pub fn poll(&mut self, now: u64) -> Vec<u8> {
        self.run_until(now);
        self.take_output()
    }

    /// The next time something happens on its own (an `ok`, a keepalive, a report). `None`
    /// means nothing will until the host sends bytes.
    pub fn next_deadline(&self) -> Option<u64> {
        self.next_event()
    }

    /// The LCD knob was pressed: continues an `M600` filament change waiting for the user.
    #[must_use = "the output is what the printer sent to the host"]
    pub fn press_knob(&mut self, now: u64) -> Vec<u8> {
        self.run_until(now);
        if matches!(self.exec, Exec::PausedForUser { .. }) {
            self.resume_from_pause();
        }
        self.settle();
        self.take_output()
    }

    /// Every command accepted into the queue, in order (empty when `record_commands` is off).
    pub fn accepted_commands(&self) -> &[AcceptedCommand] {
        self.record.commands()
    }

    pub fn hotend(&self) -> HeaterState {
        self.thermal.hotend.state()
    }

    pub fn bed(&self) -> HeaterState {
        self.thermal.bed.state()
    }

    /// The commanded position (where the last queued move ends).
    pub fn position(&self) -> Position {
        self.motion.position()
    }

    pub fn is_killed(&self) -> bool {
        matches!(self.power, Power::Killed(_))
    }

    pub fn kill_reason(&self) -> Option<KillReason> {
        match self.power {
            Power::Killed(reason) => Some(reason),
            _ => None,
        }
    }

    pub fn is_booting(&self) -> bool {
        matches!(self.power, Power::Booting { .. })
    }

    /// Waiting in an `M600` filament change for the knob or `M108`.
    pub fn is_paused_for_user(&self) -> bool {
        matches!(self.exec, Exec::PausedForUser { .. })
    }

    /// Bytes lost to a full receive buffer or to the bootloader.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }

    /// The last accepted line number (Marlin's `last_N`).
    pub fn last_line_number(&self) -> i64 {
        self.last_line
    }

    /// Commands in the queue, including the one executing.
    pub fn queued_commands(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn emit(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.push(b'\n');
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub(super) fn is_klipper(&self) -> bool {
        self.config.firmware_name == FirmwareFlavor::Klipper
    }

    /// Halts: prints why, drops every queued command and move, heaters off.
    pub(super) fn kill(&mut self, reason: KillReason) {
        for line in kill_lines(self.config.firmware_name, reason) {
            self.emit(&line);
        }
        self.power = Power::Killed(reason);
        self.rx.clear();
        self.assembler.clear();
        self.queue.clear();
        self.exec = Exec::Idle;
        self.motion.quick_stop();
        self.thermal.switch_off();
        self.timers = Timers::new(&self.config, self.clock);
    }

    /// Power-on state; heaters keep their heat (physics does not reboot) but switch off.
    fn reboot(&mut self) {
        self.rx.clear();
        self.assembler.clear();
        self.emergency = EmergencyParser::default();
        self.last_line = 0;
        self.queue.clear();
        self.exec = Exec::Idle;
        self.motion = Motion::new(self.config.planner_depth, self.config.speed_up);
        self.thermal.switch_off();
        self.timers = Timers::new(&self.config, self.clock);
        self.power = Power::Booting {
            ready_at: self.clock + self.config.boot_ms,
        };
    }

    /// Runs every event up to `now` in time order, then moves the clock to `now`.
    fn run_until(&mut self, now: u64) {
        if !self.started {
            self.started = true;
            self.clock = now;
            self.timers.idle_since = now;
        }
        let now = now.max(self.clock);
        self.settle();
        // `next_event` only returns times after the clock, so this loop always advances.
        while let Some(at) = self.next_event().filter(|at| *at <= now) {
            self.advance_clock(at);
            self.settle();
        }
        self.advance_clock(now);
        self.settle();
    }

    fn advance_clock(&mut self, to: u64) {
        if to > self.clock {
            self.thermal.advance(to - self.clock);
            self.clock = to;
        }
        self.motion.retire(self.clock);
    }

    /// Does all the work due at the current instant, until nothing more changes.
    fn settle(&mut self) {
        loop {
            match self.power {
                Power::Killed(_) => return,
                Power::Booting { ready_at } if ready_at > self.clock => return,
                Power::Booting { .. } => {
                    self.power = Power::Running;
                    for line in boot_banner(self.config.firmware_name) {
                        self.emit(line);
                    }
                }
                Power::Running => {}
            }
            if let Some(heater) = self.thermal.over_max() {
                self.kill(KillReason::MaxTemp(heater));
                return;
            }
            let stepped = self.step_exec();
            let drained = self.drain_rx();
            if !(stepped || drained) {
                break;
            }
        }
        self.fire_timers();
    }

    /// The earliest future time at which something is due.
    fn next_event(&self) -> Option<u64> {
        let candidates = match self.power {
            Power::Killed(_) => return None,
            Power::Booting { ready_at } => return Some(ready_at).filter(|at| *at > self.clock),
            Power::Running => [
                self.exec_deadline(),
                self.timers.busy_next,
                self.timers.heat_report_next,
                self.timers.autoreport.map(|(_, next)| next),
                self.idle_wait_at(),
                self.thermal
                    .ms_until_over_max()
                    .map(|ms| self.clock.saturating_add(ms)),
            ],
        };
        candidates
            .into_iter()
            .flatten()
            .filter(|at| *at > self.clock)
            .min()
    }
}
