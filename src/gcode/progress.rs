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

/// Builds [`ProgressTable`]s while the analysis runs: feed it the time of each finished move
/// with the byte offset of the end of its line. It keeps one table per step it was made for
/// (one when the file's length is known; a few dozen for an upload, whose length is known
/// within a range), all sharing one running total, so each table is exactly what a sampler
/// made for its length alone gives.
#[derive(Debug)]
pub struct ProgressSampler {
    elapsed_s: f64,
    tables: Vec<StepSamples>,
    /// The lowest offset at which some table takes its next sample.
    due: u64,
    /// The highest offset at which a sample was taken or updated.
    last: Option<u64>,
}

#[derive(Debug)]
struct StepSamples {
    step: u64,
    next: u64,
    samples: Vec<(u64, f64)>,
}

impl ProgressSampler {
    /// A sampler for each distinct step of the file lengths in `totals`.
    pub fn new(totals: &[u64]) -> Self {
        let mut tables: Vec<StepSamples> = Vec::new();
        for &total in totals {
            let step = Self::step_for(total);
            if tables.iter().all(|t| t.step != step) {
                tables.push(StepSamples {
                    step,
                    next: step,
                    samples: Vec::with_capacity(SAMPLES as usize + 2),
                });
            }
        }
        let due = tables.iter().map(|t| t.next).min().unwrap_or(u64::MAX);
        ProgressSampler {
            elapsed_s: 0.0,
            tables,
            due,
            last: None,
        }
    }

    /// `seconds` more were spent by the line ending at `offset`.
    #[inline(always)]
    pub fn add(&mut self, offset: u64, seconds: f64) {
        self.elapsed_s += seconds;
        // Most moves are neither at a sample nor on a sampled line: two comparisons, not
        // one per table (an upload of 100 MiB keeps 41 tables). An offset at or before the
        // last sample taken goes the long way, as every table would see it.
        if offset < self.due && self.last.is_none_or(|last| offset > last) {
            return;
        }
        self.sample(offset);
    }

    #[cold]
    fn sample(&mut self, offset: u64) {
        let elapsed = self.elapsed_s;
        for table in &mut self.tables {
            match table.samples.last_mut() {
                // Later moves of the same line (arc chords) belong to the same sample.
                Some(last) if last.0 == offset => last.1 = elapsed,
                _ if offset >= table.next => {
                    table.samples.push((offset, elapsed));
                    table.next = (offset / table.step + 1) * table.step;
                }
                _ => continue,
            }
            self.last = self.last.max(Some(offset));
        }
        self.due = self.tables.iter().map(|t| t.next).min().unwrap_or(u64::MAX);
    }

    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// Whether one of the tables has the step of a file of `total_bytes`.
    pub fn has_table_for(&self, total_bytes: u64) -> bool {
        let step = Self::step_for(total_bytes);
        self.tables.iter().any(|t| t.step == step)
    }

    /// The step a file of `total_bytes` gets (bytes between samples: a hundredth of it).
    pub fn step_for(total_bytes: u64) -> u64 {
        (total_bytes / SAMPLES).max(1)
    }

    /// The table made for a file of `made_for` bytes, ending at `total_bytes` (the same
    /// unless the stream was longer than said); `None` when that step was not foreseen.
    pub fn finish(self, made_for: u64, total_bytes: u64) -> Option<ProgressTable> {
        let step = Self::step_for(made_for);
        let table = self.tables.into_iter().find(|t| t.step == step)?;
        Some(ProgressTable::new(
            table.samples,
            total_bytes,
            self.elapsed_s,
        ))
    }
}
