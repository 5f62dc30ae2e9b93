//! Resend recovery for the [`Stream`]: a `Resend: n` starts (or extends) a rewind episode to
//! line `n`, checked against what was sent and what the history still holds; the episode ends
//! when every owed `ok` arrived or the line stayed quiet, and only then is line `n` written
//! again (see the module above for why).

use super::super::event::{Action, FallbackReason, ProtocolError};
use super::{Rewind, Stream};

impl Stream {
    /// `Resend: n`: start (or extend) a rewind episode to line `n`.
    pub(in crate::printer::serial::protocol) fn on_resend(
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
        self.complaint = false;
        if self.stalled_since.is_some() {
            // The answer to the probe: the firmware's line check holds every line before `n`.
            self.confirm_through(n.saturating_sub(1), out);
            self.end_stall(now, out);
        }
        let stale = self.in_flight.iter().filter(|f| f.number >= n).count();
        self.in_flight.retain(|f| f.number < n);
        self.bytes_in_flight = self.in_flight.iter().map(|f| f.len).sum();
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
        self.refresh_deadline(now);
        Ok(())
    }

    fn check_resend_target(&self, n: u32) -> Result<(), ProtocolError> {
        let last_sent = self.highest_sent;
        if n > last_sent + 1 {
            return Err(ProtocolError::ResendBeyondSent {
                requested: n,
                last_sent,
            });
        }
        let oldest = self.history.oldest().unwrap_or(self.next_number);
        if n < oldest {
            return Err(ProtocolError::ResendOutOfHistory {
                requested: n,
                oldest,
            });
        }
        Ok(())
    }

    pub(super) fn finish_rewind_if_done(&mut self, now: u64, out: &mut Vec<Action>) {
        let done = self.rewind.as_ref().is_some_and(|rewind| {
            let counted = rewind.owed_oks == 0 && !rewind.wait_for_quiet;
            self.in_flight.is_empty() && (counted || now >= rewind.quiet_until)
        });
        if done {
            self.rewind = None;
            self.resending = true;
            self.pump(now, out);
        }
    }
}
