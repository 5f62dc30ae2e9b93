//! Deterministic fault injection: which arriving lines get "corrupted on the wire", and
//! which `ok`s are lost on their way back.
//! A tiny xorshift generator keeps runs reproducible from a seed without a new dependency.

use std::collections::BTreeSet;

/// Marsaglia's xorshift64: fast, deterministic, good enough to pick lines to corrupt.
#[derive(Debug, Clone)]
pub(super) struct XorShift64(u64);

impl XorShift64 {
    pub(super) fn new(seed: u64) -> Self {
        // Zero is the one state xorshift never leaves; any other fixed value will do.
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0.0..1.0` from the top 53 bits.
    pub(super) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Decides, line by line, whether an arriving numbered line is treated as corrupted.
#[derive(Debug, Clone)]
pub(super) struct LineCorruption {
    random: Option<(XorShift64, f64)>,
    pending_lines: BTreeSet<i64>,
    lost_lines: BTreeSet<i64>,
    lost_oks: BTreeSet<i64>,
}

impl LineCorruption {
    pub(super) fn new(rate: Option<f64>, seed: u64, lines: &[u32], lost: &[u32]) -> Self {
        Self {
            random: rate.map(|rate| (XorShift64::new(seed), rate)),
            pending_lines: lines.iter().map(|&n| i64::from(n)).collect(),
            lost_lines: lost.iter().map(|&n| i64::from(n)).collect(),
            lost_oks: BTreeSet::new(),
        }
    }

    /// Also loses the `ok` of the first run of each of these line numbers.
    pub(super) fn losing_oks(mut self, lines: &[u32]) -> Self {
        self.lost_oks = lines.iter().map(|&n| i64::from(n)).collect();
        self
    }

    /// Whether the `ok` for line `n`, which just ran, vanishes on the wire (once per line).
    pub(super) fn loses_ok(&mut self, n: i64) -> bool {
        self.lost_oks.remove(&n)
    }

    /// Whether line `n` vanishes on the wire (first arrival of a listed line only): the
    /// firmware never sees it, so the next line fails the line-number check.
    pub(super) fn loses(&mut self, n: i64) -> bool {
        self.lost_lines.remove(&n)
    }

    /// Whether line `n`, which passed the line-number check, arrives corrupted. A listed line
    /// is corrupted on its first arrival only; the random rate applies to every arrival.
    pub(super) fn corrupts(&mut self, n: i64) -> bool {
        if self.pending_lines.remove(&n) {
            return true;
        }
        match &mut self.random {
            Some((generator, rate)) => generator.next_f64() < *rate,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_sequence_and_rates_land_near_their_value() {
        let mut a = XorShift64::new(7);
        let mut b = XorShift64::new(7);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut corruption = LineCorruption::new(Some(0.25), 3, &[], &[]);
        let hits = (0..10_000).filter(|&n| corruption.corrupts(n)).count();
        assert!((2_000..3_000).contains(&hits), "{hits} hits");
    }

    #[test]
    fn listed_lines_are_corrupted_once() {
        let mut corruption = LineCorruption::new(None, 0, &[4], &[]);
        assert!(!corruption.corrupts(3));
        assert!(corruption.corrupts(4));
        assert!(!corruption.corrupts(4));
    }

    #[test]
    fn listed_oks_are_lost_once() {
        let mut corruption = LineCorruption::new(None, 0, &[], &[]).losing_oks(&[7]);
        assert!(!corruption.loses_ok(6));
        assert!(corruption.loses_ok(7));
        assert!(!corruption.loses_ok(7));
    }
}
