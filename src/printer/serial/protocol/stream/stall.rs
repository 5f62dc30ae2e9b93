//! Stall recovery for the [`Stream`]: declaring a stall (deadline, `wait`, a complaint with
//! no `Resend:`), probing with the oldest line in flight, and settling it from the answer.

use super::super::event::{Action, FallbackReason, SessionEvent, StallCause, TimeoutKind};
use super::Stream;

/// A `wait` this soon after a write may have crossed it on the wire: it says nothing about
/// the line just written.
const WAIT_GRACE_MS: u64 = 250;

impl Stream {
    /// A Repetier-style `wait`: the firmware is idle and waiting for input, so a line still
    /// unanswered will never be answered; a rewind still waiting for an extra `ok` has all
    /// it will get.
    pub(in crate::printer::serial::protocol) fn on_wait(
        &mut self,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        if now < self.last_write + WAIT_GRACE_MS {
            return;
        }
        if self.rewind.is_some() {
            if self.in_flight.is_empty() {
                self.rewind = None;
                self.pump(now, out);
            }
            return;
        }
        if !self.in_flight.is_empty() {
            self.stall(StallCause::Wait, now, out);
            self.pump(now, out);
        }
    }

    /// The oldest line in flight will not be answered: forget the lines in flight and write
    /// it again, alone (the caller pumps). Sending it again is safe: a firmware that already
    /// has it rejects the copy by its number and asks for the next one.
    pub(super) fn stall(&mut self, cause: StallCause, now: u64, out: &mut Vec<Action>) {
        let Some(oldest) = self.in_flight.front().map(|f| f.number) else {
            return;
        };
        if cause == StallCause::Silence {
            out.push(Action::Event(SessionEvent::Timeout(TimeoutKind::Ok {
                line: oldest,
            })));
        }
        if self.stalled_since.is_none() {
            self.stalled_since = Some(self.silent_since);
            out.push(Action::Event(SessionEvent::Stalled {
                line: oldest,
                cause,
                silent_ms: now.saturating_sub(self.silent_since),
            }));
        }
        self.fall_back(FallbackReason::Timeout, out);
        self.in_flight.clear();
        self.bytes_in_flight = 0;
        self.buffer_credit = None;
        self.rewind = None;
        self.complaint = false;
        self.next_send = self.next_send.min(oldest);
    }

    pub(super) fn end_stall(&mut self, now: u64, out: &mut Vec<Action>) {
        if let Some(since) = self.stalled_since.take() {
            out.push(Action::Event(SessionEvent::Resynced {
                stalled_ms: now.saturating_sub(since),
            }));
        }
    }

    /// Acknowledges the lines in flight up to `last` and reports every line up to it.
    pub(super) fn confirm_through(&mut self, last: u32, out: &mut Vec<Action>) {
        while self.in_flight.front().is_some_and(|f| f.number <= last) {
            self.pop_oldest(out);
        }
        self.report_acked_through(last.min(self.highest_sent), out);
    }
}
