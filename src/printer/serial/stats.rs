//! Counters of one serial printer's link, shared (lock-free) between its port thread, which
//! writes them, and whoever reads them: tests and benchmarks directly, `/metrics` as the
//! link's figures through the driver seam (`LinkFigures`).
//!
//! The `ok` latency (a numbered line's last write to its acknowledgement) is a histogram of
//! fixed buckets, each an atomic counter, so the port thread never takes a lock to record it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::protocol::FlowControl;
use crate::printer::figures::{Figure, Histogram, LinkFigures};

/// Upper bounds (seconds) of the `ok` latency buckets; one more bucket counts the rest.
pub const OK_LATENCY_BOUNDS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];
const BUCKETS: usize = OK_LATENCY_BOUNDS.len() + 1;
/// Upper bounds (seconds) of the stall duration buckets; one more bucket counts the rest.
pub const STALL_BOUNDS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];
const STALL_BUCKETS: usize = STALL_BOUNDS.len() + 1;

#[derive(Debug, Default)]
pub struct SerialStats {
    lines_sent: AtomicU64,
    lines_acked: AtomicU64,
    bytes_written: AtomicU64,
    resend_requests: AtomicU64,
    timeouts: AtomicU64,
    fallbacks: AtomicU64,
    windowed: AtomicBool,
    ok_buckets: [AtomicU64; BUCKETS],
    ok_sum_micros: AtomicU64,
    stalls: AtomicU64,
    stall_buckets: [AtomicU64; STALL_BUCKETS],
    stall_sum_ms: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Numbered lines written, resent ones included.
    pub lines_sent: u64,
    pub lines_acked: u64,
    pub bytes_written: u64,
    /// Firmware complaints about a line (checksum, line number) that led to a resend.
    pub resend_requests: u64,
    pub timeouts: u64,
    /// Times windowed streaming fell back to ping-pong.
    pub fallbacks: u64,
    pub windowed: bool,
    /// Times a line's `ok` did not come and the stream was resynchronised.
    pub stalls: u64,
}

impl SerialStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            lines_sent: self.lines_sent.load(Relaxed),
            lines_acked: self.lines_acked.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            resend_requests: self.resend_requests.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            windowed: self.windowed.load(Relaxed),
            stalls: self.stalls.load(Relaxed),
        }
    }

    /// How long each stall lasted (seconds), from the last sign of life to the answer.
    pub fn stall_durations(&self) -> Histogram {
        histogram(
            &STALL_BOUNDS,
            &self.stall_buckets,
            self.stall_sum_ms.load(Relaxed) as f64 / 1e3,
        )
    }

    /// The `ok` latency histogram (seconds) at this moment.
    pub fn ok_latency(&self) -> Histogram {
        let sum = self.ok_sum_micros.load(Relaxed) as f64 / 1e6;
        histogram(&OK_LATENCY_BOUNDS, &self.ok_buckets, sum)
    }

    pub(super) fn stalled(&self) {
        self.stalls.fetch_add(1, Relaxed);
    }

    pub(super) fn stall_ended(&self, ms: u64) {
        let seconds = ms as f64 / 1e3;
        let bucket = STALL_BOUNDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(STALL_BUCKETS - 1);
        self.stall_buckets[bucket].fetch_add(1, Relaxed);
        self.stall_sum_ms.fetch_add(ms, Relaxed);
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

    fn ok_after(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = OK_LATENCY_BOUNDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS - 1);
        self.ok_buckets[bucket].fetch_add(1, Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.ok_sum_micros.fetch_add(micros, Relaxed);
    }
}

/// Fixed buckets (`bounds` and one for the rest) as a histogram.
fn histogram(bounds: &[f64], counts: &[AtomicU64], sum: f64) -> Histogram {
    let bounds = bounds.iter().copied().chain([f64::INFINITY]);
    let buckets: Vec<(f64, u64)> = bounds
        .zip(counts)
        .map(|(bound, n)| (bound, n.load(Relaxed)))
        .collect();
    Histogram {
        count: buckets.iter().map(|(_, n)| n).sum(),
        buckets,
        sum,
    }
}

/// A counter as a figure: metric name, help, and how to read it from a snapshot.
type Counter = (&'static str, &'static str, fn(&StatsSnapshot) -> u64);

/// The counters as the link's figures, in the order `/metrics` writes them; the flow mode
/// and the `ok` latency follow them. A new counter is its atomic in `SerialStats`, its field
/// in `StatsSnapshot`, and a line here: the seam and `/metrics` take it as it is.
const FIGURES: [Counter; 7] = [
    (
        "serial_lines_sent",
        "Numbered lines written to the printer, resends included",
        |s| s.lines_sent,
    ),
    (
        "serial_lines_acked",
        "Lines the printer acknowledged with ok",
        |s| s.lines_acked,
    ),
    (
        "serial_bytes_written",
        "Bytes written to the serial port",
        |s| s.bytes_written,
    ),
    (
        "serial_resend_requests",
        "Lines the firmware asked to have resent",
        |s| s.resend_requests,
    ),
    (
        "serial_timeouts",
        "Times the printer did not answer in time",
        |s| s.timeouts,
    ),
    (
        "serial_flow_fallbacks",
        "Times windowed streaming fell back to ping-pong",
        |s| s.fallbacks,
    ),
    (
        "serial_stalls",
        "Times a line's ok did not come and the stream was resynchronised",
        |s| s.stalls,
    ),
];

impl LinkFigures for SerialStats {
    fn figures(&self) -> Vec<Figure> {
        let now = self.snapshot();
        let counters = FIGURES.map(|(name, help, read)| Figure::counter(name, help, read(&now)));
        let windowed = Figure::gauge(
            "serial_flow_windowed",
            "Flow control: 1 windowed, 0 ping-pong",
            i64::from(now.windowed),
        );
        let latency = Figure::histogram(
            "serial_ok_latency_seconds",
            "Time from a line's write to its ok, seconds",
            self.ok_latency(),
        );
        let stalls = Figure::histogram(
            "serial_stall_seconds",
            "How long each stall lasted, from the last sign of life to the answer, seconds",
            self.stall_durations(),
        );
        counters
            .into_iter()
            .chain([windowed, latency, stalls])
            .collect()
    }
}

/// Slots for write times; more than the session's resend history (256 lines), so a line
/// still awaiting its `ok` always has its slot.
const CLOCK_SLOTS: usize = 512;

/// When each in-flight numbered line was last written, for the `ok` latency. Lives on the
/// port thread (no sharing); a fixed ring indexed by line number, so it never grows.
#[derive(Debug)]
pub(super) struct AckClock {
    slots: Box<[Option<(u32, Instant)>; CLOCK_SLOTS]>,
}

impl AckClock {
    pub(super) fn new() -> AckClock {
        AckClock {
            slots: Box::new([None; CLOCK_SLOTS]),
        }
    }

    /// Notes a write; `wire` is what went to the port. Only numbered lines (`N<n> …`) count;
    /// a resent line is timed from its last write.
    pub(super) fn wrote(&mut self, wire: &[u8], stats: &SerialStats) {
        if let Some(number) = line_number(wire) {
            self.slots[number as usize % CLOCK_SLOTS] = Some((number, Instant::now()));
            stats.lines_sent.fetch_add(1, Relaxed);
        }
    }

    /// Records the latency of `line`'s acknowledgement (once; a line never written through
    /// this clock is not timed).
    pub(super) fn acked(&mut self, line: u32, stats: &SerialStats) {
        let slot = &mut self.slots[line as usize % CLOCK_SLOTS];
        if let Some((number, at)) = *slot
            && number == line
        {
            stats.ok_after(at.elapsed());
            *slot = None;
        }
    }
}

/// The `n` of a wire line `N<n> …`.
fn line_number(wire: &[u8]) -> Option<u32> {
    let rest = wire.strip_prefix(b"N")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b' ') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbered_lines_are_timed_and_each_ack_counts_once() {
        let stats = SerialStats::default();
        let mut clock = AckClock::new();
        clock.wrote(b"N7 G1 X1*42\n", &stats);
        clock.wrote(b"M112\n", &stats);
        clock.acked(7, &stats);
        clock.acked(7, &stats);
        clock.acked(8, &stats);
        let latency = stats.ok_latency();
        assert_eq!(latency.count, 1);
        assert_eq!(latency.buckets.len(), OK_LATENCY_BOUNDS.len() + 1);
        assert_eq!(stats.snapshot().lines_sent, 1);
    }

    #[test]
    fn a_latency_lands_in_the_first_bucket_that_holds_it() {
        let stats = SerialStats::default();
        stats.ok_after(Duration::from_millis(3));
        stats.ok_after(Duration::from_secs(60));
        let latency = stats.ok_latency();
        assert_eq!(latency.buckets[2], (0.005, 1));
        assert_eq!(latency.buckets.last(), Some(&(f64::INFINITY, 1)));
        assert!((latency.sum - 60.003).abs() < 1e-9);
    }

    #[test]
    fn line_numbers_are_read_only_from_numbered_lines() {
        assert_eq!(line_number(b"N123 G28*18\n"), Some(123));
        assert_eq!(line_number(b"N G28\n"), None);
        assert_eq!(line_number(b"M110 N0\n"), None);
        assert_eq!(line_number(b"N12G28\n"), None);
    }
}
