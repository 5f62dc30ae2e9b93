//! Remaining time while printing. The analysis samples the cumulative estimated time at byte
//! offsets about every 1 % of the file ([`ProgressTable`]); while printing, the bytes sent so
//! far give the estimated time done, and the observed ratio of elapsed to estimated time
//! corrects what is left (a printer that runs 10 % slow keeps running 10 % slow). Pure.

/// Samples per file (about one per percent).
pub const SAMPLES: u64 = 100;
/// Estimated seconds of printing after which the observed speed ratio is fully trusted;
/// before that it is blended in linearly (heat-up and the first moves are noisy).
const TRUST_AFTER_S: f64 = 120.0;
/// The observed ratio is kept within these bounds (a paused print says nothing about speed).
const RATIO_RANGE: (f64, f64) = (0.25, 4.0);

/// Cumulative estimated time at byte offsets, ascending, starting at `(0, 0.0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressTable {
    samples: Vec<(u64, f64)>,
    total_bytes: u64,
    total_time_s: f64,
}

impl ProgressTable {
    /// A table from samples (ascending offsets) of a file of `total_bytes` taking
    /// `total_time_s`; the end point is added.
    pub fn new(mut samples: Vec<(u64, f64)>, total_bytes: u64, total_time_s: f64) -> Self {
        samples.retain(|&(offset, _)| offset < total_bytes);
        if samples.first().is_none_or(|&(offset, _)| offset != 0) {
            samples.insert(0, (0, 0.0));
        }
        samples.push((total_bytes, total_time_s));
        ProgressTable {
            samples,
            total_bytes,
            total_time_s,
        }
    }

    pub fn samples(&self) -> &[(u64, f64)] {
        &self.samples
    }

    pub fn total_time_s(&self) -> f64 {
        self.total_time_s
    }

    /// Estimated seconds of printing done when `bytes_done` bytes have been sent.
    pub fn estimated_at(&self, bytes_done: u64) -> f64 {
        let bytes = bytes_done.min(self.total_bytes);
        let next = self.samples.partition_point(|&(offset, _)| offset <= bytes);
        let Some(&(b1, t1)) = self.samples.get(next) else {
            return self.total_time_s;
        };
        let (b0, t0) = self.samples[next.saturating_sub(1)];
        if b1 == b0 {
            return t1;
        }
        t0 + (t1 - t0) * (bytes - b0) as f64 / (b1 - b0) as f64
    }

    /// Seconds left after `bytes_done` bytes and `elapsed_s` seconds of printing.
    pub fn remaining_s(&self, bytes_done: u64, elapsed_s: f64) -> f64 {
        let done = self.estimated_at(bytes_done);
        let left = (self.total_time_s - done).max(0.0);
        if done <= 0.0 || !elapsed_s.is_finite() || elapsed_s <= 0.0 {
            return left;
        }
        let observed = (elapsed_s / done).clamp(RATIO_RANGE.0, RATIO_RANGE.1);
        let trust = (done / TRUST_AFTER_S).min(1.0);
        left * (1.0 + (observed - 1.0) * trust)
    }
}

/// Builds a [`ProgressTable`] while the analysis runs: feed it the time of each finished
/// move with the byte offset of the end of its line.
#[derive(Debug)]
pub struct ProgressSampler {
    step: u64,
    next: u64,
    elapsed_s: f64,
    samples: Vec<(u64, f64)>,
}

impl ProgressSampler {
    pub fn new(total_bytes: u64) -> Self {
        let step = Self::step_for(total_bytes);
        ProgressSampler {
            step,
            next: step,
            elapsed_s: 0.0,
            samples: Vec::with_capacity(SAMPLES as usize + 2),
        }
    }

    /// `seconds` more were spent by the line ending at `offset`.
    #[inline]
    pub fn add(&mut self, offset: u64, seconds: f64) {
        self.elapsed_s += seconds;
        match self.samples.last_mut() {
            // Later moves of the same line (arc chords) belong to the same sample.
            Some(last) if last.0 == offset => last.1 = self.elapsed_s,
            _ if offset >= self.next => {
                self.samples.push((offset, self.elapsed_s));
                self.next = (offset / self.step + 1) * self.step;
            }
            _ => {}
        }
    }

    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// Bytes between samples (a hundredth of the file size it was made for).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The step a file of `total_bytes` gets.
    pub fn step_for(total_bytes: u64) -> u64 {
        (total_bytes / SAMPLES).max(1)
    }

    pub fn finish(self, total_bytes: u64) -> ProgressTable {
        let total = self.elapsed_s;
        ProgressTable::new(self.samples, total_bytes, total)
    }
}
