//! Counters of one serial printer's link, shared (lock-free) between its port thread, which
//! writes them, and whoever reads them (metrics, tests, benchmarks).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::protocol::FlowControl;

#[derive(Debug, Default)]
pub struct SerialStats {
    lines_acked: AtomicU64,
    bytes_written: AtomicU64,
    resend_requests: AtomicU64,
    timeouts: AtomicU64,
    fallbacks: AtomicU64,
    windowed: AtomicBool,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub lines_acked: u64,
    pub bytes_written: u64,
    /// Firmware complaints about a line (checksum, line number) that led to a resend.
    pub resend_requests: u64,
    pub timeouts: u64,
    /// Times windowed streaming fell back to ping-pong.
    pub fallbacks: u64,
    pub windowed: bool,
}

impl SerialStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            lines_acked: self.lines_acked.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            resend_requests: self.resend_requests.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            windowed: self.windowed.load(Relaxed),
        }
    }

    pub(super) fn acked(&self) {
        self.lines_acked.fetch_add(1, Relaxed);
    }

    pub(super) fn wrote(&self, bytes: usize) {
        self.bytes_written.fetch_add(bytes as u64, Relaxed);
    }

    pub(super) fn resend_requested(&self) {
        self.resend_requests.fetch_add(1, Relaxed);
    }

    pub(super) fn timed_out(&self) {
        self.timeouts.fetch_add(1, Relaxed);
    }

    pub(super) fn flow(&self, flow: FlowControl, fell_back: bool) {
        self.windowed
            .store(matches!(flow, FlowControl::Windowed { .. }), Relaxed);
        if fell_back {
            self.fallbacks.fetch_add(1, Relaxed);
        }
    }
}
