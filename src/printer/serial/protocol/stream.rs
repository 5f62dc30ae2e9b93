//! The numbered-line stream of one connection: resend history, lines in flight, the
//! flow-control window and resend recovery. Used only by [`Session`](super::Session).
//!
//! Resend recovery, in the absence of line numbers in `ok` replies: a `Resend: n` starts a
//! rewind episode. Lines `>= n` in flight are forgotten (the firmware dropped them); lines
//! `< n` stay in flight (accepted, their `ok` is still to come). Each `Resend:` in the episode
//! may be followed by one extra `ok` (Marlin always sends it, some firmwares never do), so the
//! episode ends when every owed `ok` arrived, or when the line stayed quiet for
//! `resend_quiet_ms`. Only then is line `n` written again: this is what keeps a late extra
//! `ok` from acknowledging the resent line. While more than one stale line may still reach
//! the firmware (the windowed case), the episode waits for quiet, so their duplicate
//! `Resend: n` requests are swallowed instead of rewinding again.

use std::collections::VecDeque;

use super::event::{
    Action, FallbackReason, FlowControl, ProtocolError, SessionConfig, SessionEvent, TimeoutKind,
};

struct Sent {
    number: u32,
    wire: Vec<u8>,
}

struct Rewind {
    to: u32,
    owed_oks: u32,
    wait_for_quiet: bool,
    quiet_until: u64,
}

pub(super) struct Stream {
    flow: FlowControl,
    ok_timeout_ms: u64,
    busy_timeout_ms: u64,
    quiet_ms: u64,
    history: VecDeque<Sent>,
    history_cap: usize,
    next_number: u32,
    next_send: u32,
    /// Line numbers and wire lengths written and not yet acknowledged, oldest first.
    in_flight: VecDeque<(u32, usize)>,
    bytes_in_flight: usize,
    acked_through: u32,
    highest_sent: u32,
    /// Free command slots left according to the last ADVANCED_OK `B` field.
    buffer_credit: Option<u32>,
    rewind: Option<Rewind>,
    ok_deadline: Option<u64>,
}

impl Stream {
    pub(super) fn new(config: &SessionConfig) -> Stream {
        Stream {
            flow: config.flow_control,
            ok_timeout_ms: config.ok_timeout_ms,
            busy_timeout_ms: config.busy_timeout_ms,
            quiet_ms: config.resend_quiet_ms,
            history: VecDeque::new(),
            history_cap: config.history_lines.max(256),
            next_number: 1,
            next_send: 1,
            in_flight: VecDeque::new(),
            bytes_in_flight: 0,
            acked_through: 0,
            highest_sent: 0,
            buffer_credit: None,
            rewind: None,
            ok_deadline: None,
        }
    }

    pub(super) fn flow(&self) -> FlowControl {
        self.flow
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub(super) fn acked_through(&self) -> u32 {
        self.acked_through
    }

    pub(super) fn next_number(&self) -> u32 {
        self.next_number
    }

    /// Nothing unsent, nothing unacknowledged, no recovery under way.
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.rewind.is_none() && self.next_send == self.next_number
    }

    /// True when a new line would be written at once.
    pub(super) fn wants_more(&self) -> bool {
        self.rewind.is_none() && self.next_send == self.next_number && self.window_open(0)
    }

    /// Numbers a line, keeps it for resends and writes it when the window allows.
    pub(super) fn push(&mut self, wire: Vec<u8>, now: u64, out: &mut Vec<Action>) {
        self.history.push_back(Sent {
            number: self.next_number,
            wire,
        });
        self.next_number += 1;
        self.trim_history();
        self.pump(now, out);
    }

    pub(super) fn on_ok(
        &mut self,
        line: Option<u32>,
        buffer: Option<u32>,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        if let Some(rewind) = &mut self.rewind {
            rewind.quiet_until = now + self.quiet_ms;
            // Inside an episode an `ok` is an accepted line's, or else a resend's extra one.
            if self.in_flight.is_empty() {
                rewind.owed_oks = rewind.owed_oks.saturating_sub(1);
            } else {
                self.pop_oldest(out);
            }
        } else {
            let current = match line {
                Some(number)
                    if self
                        .in_flight
                        .front()
                        .is_some_and(|&(oldest, _)| oldest <= number) =>
                {
                    while self.in_flight.front().is_some_and(|&(n, _)| n <= number) {
                        self.pop_oldest(out);
                    }
                    true
                }
                // ADVANCED_OK naming a line not in flight: a stale reply that frees nothing.
                Some(_) => false,
                None => {
                    self.pop_oldest(out);
                    true
                }
            };
            if current {
                // Lines still in flight may not be in the firmware's queue yet: count them
                // against the free slots it reported.
                self.buffer_credit =
                    buffer.map(|free| free.saturating_sub(self.in_flight.len() as u32));
            }
        }
        self.refresh_deadline(now, self.ok_timeout_ms);
        self.finish_rewind_if_done(now, out);
        self.pump(now, out);
    }

    /// A `busy:` keep-alive: the command in progress is alive for another `busy_timeout_ms`.
    pub(super) fn on_busy(&mut self, now: u64) {
        self.refresh_deadline(now, self.busy_timeout_ms);
    }

    /// An `Error:` line: inside a rewind episode it delays the rewind like any resend noise.
    pub(super) fn on_error_line(&mut self, now: u64) {
        if let Some(rewind) = &mut self.rewind {
            rewind.quiet_until = now + self.quiet_ms;
        }
    }

    /// `Resend: n`: start (or extend) a rewind episode to line `n`.
    pub(super) fn on_resend(
        &mut self,
        n: u32,
        now: u64,
        out: &mut Vec<Action>,
    ) -> Result<(), ProtocolError> {
        if let Some(rewind) = &mut self.rewind {
            if rewind.to == n {
                rewind.owed_oks += 1;
                rewind.quiet_until = now + self.quiet_ms;
                return Ok(());
            }
        }
        self.check_resend_target(n)?;
        let stale = self
            .in_flight
            .iter()
            .filter(|&&(number, _)| number >= n)
            .count();
        self.in_flight.retain(|&(number, _)| number < n);
        self.bytes_in_flight = self.in_flight.iter().map(|&(_, len)| len).sum();
        self.next_send = n;
        self.buffer_credit = None;
        let owed_before = self.rewind.take().map_or(0, |r| r.owed_oks);
        self.rewind = Some(Rewind {
            to: n,
            owed_oks: owed_before + 1,
            wait_for_quiet: stale > 1,
            quiet_until: now + self.quiet_ms,
        });
        self.fall_back(FallbackReason::Resend, out);
        self.refresh_deadline(now, self.ok_timeout_ms);
        Ok(())
    }

    /// Timeouts: the quiet end of a rewind episode, and the `ok` deadline.
    pub(super) fn tick(&mut self, now: u64, out: &mut Vec<Action>) {
        self.finish_rewind_if_done(now, out);
        let expired = self.ok_deadline.is_some_and(|deadline| now >= deadline);
        if expired {
            if let Some(&(oldest, _)) = self.in_flight.front() {
                out.push(Action::Event(SessionEvent::Timeout(TimeoutKind::Ok {
                    line: oldest,
                })));
                self.fall_back(FallbackReason::Timeout, out);
                // Sending the line again is safe: a firmware that already has it rejects the
                // copy by its number and asks for the next one.
                self.in_flight.clear();
                self.bytes_in_flight = 0;
                self.buffer_credit = None;
                self.rewind = None;
                self.next_send = self.next_send.min(oldest);
            }
            self.ok_deadline = None;
        }
        self.pump(now, out);
    }

    fn check_resend_target(&self, n: u32) -> Result<(), ProtocolError> {
        let last_sent = self.highest_sent;
        if n > last_sent + 1 {
            return Err(ProtocolError::ResendBeyondSent {
                requested: n,
                last_sent,
            });
        }
        let oldest = self.history.front().map_or(self.next_number, |s| s.number);
        if n < oldest {
            return Err(ProtocolError::ResendOutOfHistory {
                requested: n,
                oldest,
            });
        }
        Ok(())
    }

    fn finish_rewind_if_done(&mut self, now: u64, out: &mut Vec<Action>) {
        let done = self.rewind.as_ref().is_some_and(|rewind| {
            let counted = rewind.owed_oks == 0 && !rewind.wait_for_quiet;
            self.in_flight.is_empty() && (counted || now >= rewind.quiet_until)
        });
        if done {
            self.rewind = None;
            self.pump(now, out);
        }
    }

    fn fall_back(&mut self, reason: FallbackReason, out: &mut Vec<Action>) {
        if self.flow != FlowControl::PingPong {
            let from = self.flow;
            self.flow = FlowControl::PingPong;
            out.push(Action::Event(SessionEvent::FlowControlChanged {
                from,
                to: self.flow,
                reason,
            }));
        }
    }

    fn pop_oldest(&mut self, out: &mut Vec<Action>) {
        let Some((number, len)) = self.in_flight.pop_front() else {
            return;
        };
        self.bytes_in_flight -= len;
        // A line sent twice (after a rewind) is still reported once.
        if number > self.acked_through {
            self.acked_through = number;
            out.push(Action::Event(SessionEvent::Acked { line: number }));
        }
        self.trim_history();
    }

    fn refresh_deadline(&mut self, now: u64, timeout_ms: u64) {
        self.ok_deadline = (!self.in_flight.is_empty()).then_some(now + timeout_ms);
    }

    fn window_open(&self, len: usize) -> bool {
        if self.in_flight.is_empty() {
            return true;
        }
        match self.flow {
            FlowControl::PingPong => false,
            FlowControl::Windowed {
                rx_buffer_bytes,
                max_in_flight,
            } => {
                self.in_flight.len() < max_in_flight
                    && self.bytes_in_flight + len <= rx_buffer_bytes
                    && self.buffer_credit.is_none_or(|credit| credit > 0)
            }
        }
    }

    /// Writes every unsent line the window has room for.
    fn pump(&mut self, now: u64, out: &mut Vec<Action>) {
        while self.rewind.is_none() && self.next_send < self.next_number {
            let Some(index) = self.history_index(self.next_send) else {
                return;
            };
            let len = self.history[index].wire.len();
            if !self.window_open(len) {
                return;
            }
            if self.in_flight.is_empty() {
                self.ok_deadline = Some(now + self.ok_timeout_ms);
            }
            out.push(Action::Write(self.history[index].wire.clone()));
            self.in_flight.push_back((self.next_send, len));
            self.highest_sent = self.highest_sent.max(self.next_send);
            self.bytes_in_flight += len;
            self.buffer_credit = self.buffer_credit.map(|credit| credit.saturating_sub(1));
            self.next_send += 1;
        }
    }

    fn history_index(&self, number: u32) -> Option<usize> {
        let oldest = self.history.front()?.number;
        let index = number.checked_sub(oldest)? as usize;
        (index < self.history.len()).then_some(index)
    }

    /// Drops the oldest lines beyond the history size, but never one still needed.
    fn trim_history(&mut self) {
        let needed_from = self
            .in_flight
            .front()
            .map_or(self.next_send, |&(n, _)| n.min(self.next_send));
        while self.history.len() > self.history_cap
            && self
                .history
                .front()
                .is_some_and(|sent| sent.number < needed_from)
        {
            self.history.pop_front();
        }
    }
}
