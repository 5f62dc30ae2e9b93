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
//!
//! Stall recovery (the deadline comes from [`Liveness`]): when the oldest line's `ok` will
//! not come, that line is written again, alone. The firmware's line check settles it: a
//! line that was lost is taken now; one that was taken (only its `ok` was lost) is refused
//! with `Resend: n+1`, which confirms every line before `n+1`. Either way no line runs twice
//! and none is skipped.

use std::collections::VecDeque;

use super::event::{Action, FallbackReason, FlowControl, SessionConfig, SessionEvent, StallCause};
use super::liveness::Liveness;
use history::{History, committed};

mod history;
mod resend;
mod stall;
#[cfg(test)]
mod tests;

/// Marlin prints `Error:`, `Resend:` and `ok` back to back: this long without a `Resend:`
/// after an `Error:` about a line means none is coming (OctoPrint's virtual printer does
/// that for a missing line number).
const COMPLAINT_QUIET_MS: u64 = 50;
/// Clean lines (acknowledged with no resend and no stall) after which a fallback to
/// ping-pong is undone: one burst of line noise must not halve the rate for the whole print.
const REWIDEN_AFTER_LINES: u32 = 256;
/// Lines the history is allocated for beyond its size: those still needed (in flight or
/// unsent) when it is full; also the lines in flight allocated for. More than a window
/// holds; a rare excess grows them.
const IN_FLIGHT_ROOM: usize = 16;

/// A line written and not yet acknowledged.
#[derive(Clone, Copy, Default)]
struct InFlight {
    number: u32,
    len: usize,
    long: bool,
    written_at: u64,
}

struct Rewind {
    to: u32,
    owed_oks: u32,
    wait_for_quiet: bool,
    quiet_until: u64,
}

pub(super) struct Stream {
    flow: FlowControl,
    /// The flow control configured, restored after a fallback once lines go through cleanly.
    configured: FlowControl,
    clean_lines: u32,
    liveness: Liveness,
    quiet_ms: u64,
    history: History,
    next_number: u32,
    next_send: u32,
    /// Lines written and not yet acknowledged, oldest first.
    in_flight: VecDeque<InFlight>,
    bytes_in_flight: usize,
    acked_through: u32,
    highest_sent: u32,
    /// Free command slots left according to the last ADVANCED_OK `B` field.
    buffer_credit: Option<u32>,
    rewind: Option<Rewind>,
    ok_deadline: Option<u64>,
    /// The last sign of life (or write) the deadline counts from.
    silent_since: u64,
    last_write: u64,
    /// An `Error:` came and no `Resend:` yet: the deadline is [`COMPLAINT_QUIET_MS`].
    complaint: bool,
    /// A stall is being recovered: when the silence began.
    stalled_since: Option<u64>,
    /// The next write is a line the firmware asked for again: it is waiting for it.
    resending: bool,
}

impl Stream {
    pub(super) fn new(config: &SessionConfig) -> Stream {
        let in_flight = committed(IN_FLIGHT_ROOM, InFlight::default());
        Stream::with(config, History::new(config), in_flight)
    }

    /// A new stream (a new connection, or after a halt) in this one's allocations, emptied:
    /// reconnecting allocates nothing.
    pub(super) fn restart(&mut self, config: &SessionConfig) {
        let mut history = std::mem::take(&mut self.history);
        let mut in_flight = std::mem::take(&mut self.in_flight);
        history.clear();
        in_flight.clear();
        *self = Stream::with(config, history, in_flight);
    }

    fn with(config: &SessionConfig, history: History, in_flight: VecDeque<InFlight>) -> Stream {
        Stream {
            flow: config.flow_control,
            configured: config.flow_control,
            clean_lines: 0,
            liveness: Liveness::new(config.ok_timeout_ms),
            quiet_ms: config.resend_quiet_ms,
            history,
            next_number: 1,
            next_send: 1,
            in_flight,
            bytes_in_flight: 0,
            acked_through: 0,
            highest_sent: 0,
            buffer_credit: None,
            rewind: None,
            ok_deadline: None,
            silent_since: 0,
            last_write: 0,
            complaint: false,
            stalled_since: None,
            resending: false,
        }
    }

    /// The host sent `M113 S<n>`: the firmware's keepalive interval is known.
    pub(super) fn set_keepalive(&mut self, interval_ms: Option<u64>) {
        self.liveness.set_interval(interval_ms);
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
    pub(super) fn push(&mut self, wire: &[u8], long: bool, now: u64, out: &mut Vec<Action>) {
        self.history.push(self.next_number, wire, long);
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
        self.liveness.on_ok();
        self.complaint = false;
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
                        .is_some_and(|oldest| oldest.number <= number) =>
                {
                    while self.in_flight.front().is_some_and(|f| f.number <= number) {
                        self.pop_oldest(out);
                    }
                    true
                }
                // ADVANCED_OK naming a line not in flight: a stale reply that frees nothing.
                Some(_) => false,
                None => {
                    if let Some(oldest) = self.in_flight.front().filter(|f| !f.long) {
                        self.liveness
                            .on_ok_latency(now.saturating_sub(oldest.written_at));
                    }
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
        self.end_stall(now, out);
        self.refresh_deadline(now);
        self.finish_rewind_if_done(now, out);
        self.pump(now, out);
    }

    /// A `busy:` keepalive: the command in progress is alive for another interval.
    pub(super) fn on_busy(&mut self, now: u64) {
        self.liveness.on_busy(now);
        self.complaint = false;
        self.refresh_deadline(now);
    }

    /// A heat-up's progress line: the command is alive, as with a keepalive.
    pub(super) fn on_heating(&mut self, now: u64) {
        self.complaint = false;
        self.refresh_deadline(now);
    }

    /// An `Error:` line: inside a rewind episode it delays the rewind like any resend noise;
    /// outside one, a `Resend:` should follow at once, else the line will never be answered.
    pub(super) fn on_error_line(&mut self, now: u64) {
        if let Some(rewind) = &mut self.rewind {
            rewind.quiet_until = now + self.quiet_ms;
        } else if !self.in_flight.is_empty() {
            self.complaint = true;
            let soon = now + COMPLAINT_QUIET_MS;
            self.ok_deadline = Some(self.ok_deadline.map_or(soon, |at| at.min(soon)));
        }
    }

    /// Timeouts: the quiet end of a rewind episode, and the stall deadline.
    pub(super) fn tick(&mut self, now: u64, out: &mut Vec<Action>) {
        self.finish_rewind_if_done(now, out);
        let expired = self.ok_deadline.is_some_and(|deadline| now >= deadline);
        if expired {
            let cause = if self.complaint {
                StallCause::Complaint
            } else {
                StallCause::Silence
            };
            self.stall(cause, now, out);
            self.ok_deadline = None;
        }
        self.pump(now, out);
    }

    fn fall_back(&mut self, reason: FallbackReason, out: &mut Vec<Action>) {
        self.clean_lines = 0;
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
        let Some(oldest) = self.in_flight.pop_front() else {
            return;
        };
        self.bytes_in_flight -= oldest.len;
        if oldest.number > self.acked_through {
            self.count_clean_line(out);
        }
        self.report_acked_through(oldest.number, out);
        self.trim_history();
    }

    /// Undoes a fallback after [`REWIDEN_AFTER_LINES`] clean lines.
    fn count_clean_line(&mut self, out: &mut Vec<Action>) {
        let troubled = self.rewind.is_some() || self.stalled_since.is_some();
        if self.flow == self.configured || troubled {
            return;
        }
        self.clean_lines += 1;
        if self.clean_lines >= REWIDEN_AFTER_LINES {
            self.flow = self.configured;
            out.push(Action::Event(SessionEvent::FlowControlRestored {
                to: self.flow,
            }));
        }
    }

    /// Reports every line after the last reported one up to `number`, once each and in
    /// order: a line sent twice (after a rewind) is reported once, and lines forgotten by a
    /// stall are reported when a later one is acknowledged (the firmware takes lines only
    /// in order, so it has them).
    fn report_acked_through(&mut self, number: u32, out: &mut Vec<Action>) {
        while self.acked_through < number {
            self.acked_through += 1;
            out.push(Action::Event(SessionEvent::Acked {
                line: self.acked_through,
            }));
        }
    }

    /// Restarts the deadline from a sign of life: a stall probe waits the long timeout,
    /// anything else what the firmware's liveness allows.
    fn refresh_deadline(&mut self, now: u64) {
        self.silent_since = now;
        let long = self.in_flight.iter().any(|f| f.long);
        let ms = if self.stalled_since.is_some() {
            self.liveness.probe_deadline_ms()
        } else if std::mem::take(&mut self.resending) && !long {
            self.liveness.resent_deadline_ms()
        } else {
            self.liveness.deadline_ms(long)
        };
        self.ok_deadline = (!self.in_flight.is_empty()).then_some(now + ms);
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
            let Some(kept) = self.history.get(self.next_send) else {
                return;
            };
            let (len, long) = (kept.len, kept.long);
            if !self.window_open(len) {
                return;
            }
            let first = self.in_flight.is_empty();
            out.push(Action::Write(self.history.wire(kept)));
            self.in_flight.push_back(InFlight {
                number: self.next_send,
                len,
                long,
                written_at: now,
            });
            self.last_write = now;
            if first {
                self.refresh_deadline(now);
            }
            self.highest_sent = self.highest_sent.max(self.next_send);
            self.bytes_in_flight += len;
            self.buffer_credit = self.buffer_credit.map(|credit| credit.saturating_sub(1));
            self.next_send += 1;
        }
    }

    /// Drops the oldest lines beyond the history size, but never one still needed.
    fn trim_history(&mut self) {
        let needed_from = self
            .in_flight
            .front()
            .map_or(self.next_send, |f| f.number.min(self.next_send));
        self.history.trim(needed_from);
    }
}
