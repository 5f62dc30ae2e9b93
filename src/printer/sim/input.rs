//! The receiving side: every byte passes the emergency parser, then waits in a receive
//! buffer of `rx_buffer_bytes` (overflow is dropped) until the command queue has room; lines
//! are then checked like Marlin's `get_serial_commands` and queued, or refused with
//! `Error:` + `Resend:` + `ok` and the receive buffer flushed.

use super::firmware::{Firmware, Power, QueuedCommand};
use super::line::{Emergency, LineError, Numbering, command_text, numbering, verify_checksum};
use super::replies::KillReason;

impl Firmware {
    /// One received byte: emergency parser first, then the receive buffer.
    pub(super) fn feed(&mut self, byte: u8) {
        match self.power {
            Power::Killed(_) => return,
            Power::Booting { .. } => {
                self.dropped_bytes += 1;
                return;
            }
            Power::Running => {}
        }
        if let Some(emergency) = self.emergency.push(byte) {
            self.on_emergency(emergency);
            if self.is_killed() {
                return;
            }
        }
        if self.rx.len() < self.config.rx_buffer_bytes {
            self.rx.push_back(byte);
        } else {
            self.dropped_bytes += 1;
        }
        self.drain_rx();
    }

    fn on_emergency(&mut self, emergency: Emergency) {
        match emergency {
            Emergency::Kill => self.kill(KillReason::EmergencyStop),
            Emergency::CancelWait => self.cancel_wait(),
            Emergency::QuickStop => self.motion.quick_stop(),
        }
    }

    /// Moves bytes from the receive buffer into lines while the command queue has room.
    pub(super) fn drain_rx(&mut self) -> bool {
        let mut consumed = false;
        while self.power == Power::Running && self.queue.len() < self.config.bufsize {
            let Some(byte) = self.rx.pop_front() else {
                break;
            };
            consumed = true;
            if let Some(line) = self.assembler.push(byte) {
                self.accept_line(&line);
            }
        }
        consumed
    }

    /// Marlin's `get_serial_commands` checks, then the command enters the queue.
    fn accept_line(&mut self, line: &str) {
        let line = line.trim_start_matches(' ');
        let number = match numbering(line) {
            Numbering::Unnumbered => None,
            // Klipper strips line numbers and checksums without checking them.
            Numbering::Numbered { n, .. } if self.is_klipper() => Some(n),
            Numbering::Numbered { n, resets } => {
                if self.corruption.loses(n) {
                    return;
                }
                if !resets && n != self.last_line + 1 {
                    return self.line_error(LineError::LineNumber);
                }
                if self.corruption.corrupts(n) {
                    return self.line_error(LineError::Checksum);
                }
                if let Err(error) = verify_checksum(line) {
                    return self.line_error(error);
                }
                self.last_line = n;
                Some(n)
            }
        };
        let command = command_text(line);
        self.record.push(number, command);
        self.queue.push_back(QueuedCommand {
            line: number,
            text: command.to_owned(),
        });
        self.timers.idle_since = self.clock;
    }

    /// `Error:…`, flush the receive buffer, `Resend: last+1`, `ok`.
    fn line_error(&mut self, error: LineError) {
        let last = self.last_line;
        self.emit(&format!("Error:{}{last}", error.message()));
        self.rx.clear();
        self.assembler.clear();
        self.emit(&format!("Resend: {}", last + 1));
        self.emit("ok");
        self.timers.idle_since = self.clock;
    }
}
