//! What the firmware has shown about being alive, and the stall deadline derived from it.
//! Used only by the numbered-line stream.
//!
//! A line whose `ok` never comes (lost on the wire, swallowed by the firmware) is a stall:
//! nothing will move until the host does something. Waiting `ok_timeout_ms` (30 s) before
//! doing it leaves a blob on the part, so the deadline is derived from what the firmware
//! taught this connection:
//!
//! - `busy:` keepalives (Marlin `HOST_KEEPALIVE`, interval set by `M113`, 2 s by default)
//!   cover every command that blocks. Once one was seen, or the host sent `M113 S<n>`,
//!   silence for one interval and a quarter (plus 250 ms for the wire) is a stall, whatever
//!   the command.
//! - Without keepalives, a command known to take long (homing, probing, a heat-up, a dwell,
//!   `M400`, `M600` …) may rightly be silent for minutes: only it gets `ok_timeout_ms`. Any
//!   other command answers in seconds: [`SHORT_OK_MS`].
//! - A heat-up's own temperature lines (`T:… W:…`, printed every second) are signs of life
//!   like `ok`. Temperature auto-reports (`M155`) are not: they go on while the firmware is
//!   idle, so counting them would let a lost `ok` stall forever.
//! - A Repetier-style `wait` says the firmware is idle and waiting for input: a line still
//!   unanswered then is a stall at once (handled by the stream).

/// Marlin's `DEFAULT_KEEPALIVE_INTERVAL`: assumed after the first `busy:` until a second one
/// shows the real interval.
const MARLIN_KEEPALIVE_MS: u64 = 2_000;
/// Without keepalives, the longest a command not known to take long may stay silent. A
/// move waiting for planner room is the slowest of them; a probe sent too early is harmless
/// (the firmware's line check rejects the copy).
pub(super) const SHORT_OK_MS: u64 = 5_000;
/// The least a line the firmware asked for again gets before it counts as swallowed.
const RESENT_MIN_MS: u64 = 100;
/// ... and in typical `ok` latencies, for a firmware slower to answer.
const RESENT_LATENCIES: u64 = 8;
/// Gaps between keepalives outside this range are not intervals (a lost line, two commands).
const INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 200..=60_000;

/// Codes whose `ok` may rightly take minutes on a firmware without keepalives.
const LONG_COMMANDS: [&str; 22] = [
    "G4", "G12", "G28", "G29", "G33", "G34", "G35", "G76", "G80", "M0", "M1", "M48", "M109",
    "M116", "M190", "M191", "M226", "M303", "M400", "M600", "M701", "M702",
];

/// True when `cmd` (cleaned, unnumbered) is one that may block for long.
pub(super) fn is_long(cmd: &str) -> bool {
    let code = cmd.split_whitespace().next().unwrap_or("");
    LONG_COMMANDS
        .iter()
        .any(|long| code.eq_ignore_ascii_case(long))
}

/// The keepalive interval an `M113 S<n>` sets: `Some(None)` turns keepalives off,
/// `None` when `cmd` is not an `M113` with an `S` value.
pub(super) fn m113_interval(cmd: &str) -> Option<Option<u64>> {
    let mut words = cmd.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("M113") {
        return None;
    }
    let seconds: f64 = words
        .find_map(|w| w.strip_prefix(['S', 's']))?
        .parse()
        .ok()?;
    let ms = (seconds.clamp(0.0, 60.0) * 1000.0) as u64;
    Some((ms > 0).then_some(ms))
}

/// What the connection learned about the firmware's signs of life.
pub(super) struct Liveness {
    long_ms: u64,
    keepalive_ms: Option<u64>,
    /// The last `busy:` since the last `ok`, to measure the interval between two.
    last_busy: Option<u64>,
    /// Typical `ok` latency of a short command (a moving average), ms.
    typical_ok_ms: u64,
}

impl Liveness {
    /// `long_ms` is the configured `ok_timeout_ms`: the most any deadline may be.
    pub(super) fn new(long_ms: u64) -> Liveness {
        Liveness {
            long_ms,
            keepalive_ms: None,
            last_busy: None,
            typical_ok_ms: 0,
        }
    }

    /// The keepalive interval learned so far.
    #[cfg(test)]
    pub(super) fn keepalive_ms(&self) -> Option<u64> {
        self.keepalive_ms
    }

    /// The host set the interval (`M113 S<n>`); `None` turned keepalives off.
    pub(super) fn set_interval(&mut self, interval: Option<u64>) {
        self.keepalive_ms = interval;
        self.last_busy = None;
    }

    /// A `busy:` line: keepalives exist; two in a row without an `ok` between measure them.
    pub(super) fn on_busy(&mut self, now: u64) {
        let gap = self.last_busy.map(|at| now.saturating_sub(at));
        self.keepalive_ms = match (gap, self.keepalive_ms) {
            (Some(gap), _) if INTERVAL_RANGE.contains(&gap) => Some(gap),
            (_, Some(known)) => Some(known),
            (_, None) => Some(MARLIN_KEEPALIVE_MS),
        };
        self.last_busy = Some(now);
    }

    /// An `ok`: the command that kept the firmware busy is over.
    pub(super) fn on_ok(&mut self) {
        self.last_busy = None;
    }

    /// How long the firmware may stay silent before a stall is declared, given whether a
    /// command known to take long is among the lines in flight.
    pub(super) fn deadline_ms(&self, long_in_flight: bool) -> u64 {
        let ms = match self.keepalive_ms {
            Some(interval) => interval + interval / 4 + 250,
            None if long_in_flight => self.long_ms,
            None => SHORT_OK_MS,
        };
        ms.min(self.long_ms)
    }

    /// A short command's `ok` came this long after its write.
    pub(super) fn on_ok_latency(&mut self, ms: u64) {
        self.typical_ok_ms = (self.typical_ok_ms * 7 + ms) / 8;
    }

    /// The deadline of a short line written again after a `Resend:`: the firmware asked for
    /// it and is waiting, so its `ok` comes as fast as any (OctoPrint's virtual printer
    /// swallows such a line and only says `wait` a second later).
    pub(super) fn resent_deadline_ms(&self) -> u64 {
        let ms = RESENT_MIN_MS.max(self.typical_ok_ms * RESENT_LATENCIES);
        ms.min(self.deadline_ms(false))
    }

    /// The deadline after a probe went unanswered: the firmware may be in a long command
    /// it does not report; asking again every few seconds would not help.
    pub(super) fn probe_deadline_ms(&self) -> u64 {
        self.long_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalives_shorten_the_deadline_to_an_interval_and_a_quarter() {
        let mut live = Liveness::new(30_000);
        assert_eq!(live.deadline_ms(false), SHORT_OK_MS);
        assert_eq!(live.deadline_ms(true), 30_000);
        live.on_busy(1_000);
        assert_eq!(live.deadline_ms(true), 2_750, "Marlin's 2 s assumed");
        live.on_busy(4_000);
        assert_eq!(live.keepalive_ms(), Some(3_000), "then measured");
        live.on_ok();
        live.on_busy(100_000);
        assert_eq!(
            live.keepalive_ms(),
            Some(3_000),
            "a gap across an ok is no interval"
        );
        live.set_interval(Some(1_000));
        assert_eq!(live.deadline_ms(true), 1_500);
        assert_eq!(Liveness::new(1_000).deadline_ms(false), 1_000, "capped");
        assert_eq!(live.resent_deadline_ms(), RESENT_MIN_MS);
        for _ in 0..50 {
            live.on_ok_latency(100);
        }
        assert!(
            live.resent_deadline_ms() > 700,
            "a slow firmware gets longer"
        );
    }

    #[test]
    fn long_commands_and_m113_are_recognised() {
        assert!(is_long("M109 S210"));
        assert!(is_long("g28 X Y"));
        assert!(!is_long("G1 X10"));
        assert!(!is_long("M1090"));
        assert_eq!(m113_interval("M113 S1"), Some(Some(1_000)));
        assert_eq!(m113_interval("M113 S0"), Some(None));
        assert_eq!(m113_interval("M113"), None);
        assert_eq!(m113_interval("M114"), None);
    }
}
