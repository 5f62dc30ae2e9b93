//! How well our estimates matched a printer's completed jobs, and the correction factor new
//! estimates for that printer get. Pure: the store hands in `(estimate, actual)` pairs of
//! the printer's last [`WINDOW`] completed jobs, newest first.
//!
//! The factor is the median of `actual / estimate` (a median, so one print paused overnight
//! whose pause was not seen does not skew it), clamped to [`FACTOR_RANGE`], and 1.0 until
//! [`MIN_JOBS`] jobs were counted.

/// Completed jobs per printer the figures look at.
pub const WINDOW: usize = 20;
/// Jobs needed before the factor moves away from 1.0.
pub const MIN_JOBS: usize = 3;
/// The factor never goes beyond these (a printer twice as slow as planned is a config error,
/// not something to learn).
pub const FACTOR_RANGE: (f64, f64) = (0.5, 2.0);

/// A printer's estimate accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    /// Completed jobs counted (those with an estimate and a measured time).
    pub jobs: u32,
    /// Mean of `|estimate - actual| / actual`, in percent; `None` without jobs.
    pub mean_abs_error_pct: Option<f64>,
    /// What new estimates for this printer are multiplied by.
    pub factor: f64,
}

impl Default for Accuracy {
    fn default() -> Accuracy {
        Accuracy {
            jobs: 0,
            mean_abs_error_pct: None,
            factor: 1.0,
        }
    }
}

impl Accuracy {
    /// The figures over `pairs` of `(estimated seconds, actual seconds)`; pairs where either is
    /// not positive are skipped, and at most the first [`WINDOW`] usable ones count.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (f64, f64)>) -> Accuracy {
        let usable: Vec<(f64, f64)> = pairs
            .into_iter()
            .filter(|&(e, a)| e > 0.0 && a > 0.0 && e.is_finite() && a.is_finite())
            .take(WINDOW)
            .collect();
        if usable.is_empty() {
            return Accuracy::default();
        }
        let n = usable.len() as f64;
        let error = usable.iter().map(|(e, a)| (e - a).abs() / a).sum::<f64>() / n;
        let factor = if usable.len() < MIN_JOBS {
            1.0
        } else {
            let mut ratios: Vec<f64> = usable.iter().map(|(e, a)| a / e).collect();
            median(&mut ratios).clamp(FACTOR_RANGE.0, FACTOR_RANGE.1)
        };
        Accuracy {
            jobs: usable.len() as u32,
            mean_abs_error_pct: Some(error * 100.0),
            factor,
        }
    }

    /// `seconds` as this printer will probably take them.
    pub fn correct(&self, seconds: u64) -> u64 {
        (seconds as f64 * self.factor).round() as u64
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_than_three_jobs_report_their_error_but_keep_the_factor_at_one() {
        let a = Accuracy::from_pairs([(100.0, 110.0), (100.0, 120.0)]);
        assert_eq!(a.jobs, 2);
        assert_eq!(a.factor, 1.0);
        let error = a.mean_abs_error_pct.unwrap();
        assert!((error - (10.0 / 110.0 + 20.0 / 120.0) / 2.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_factor_is_the_median_ratio_of_actual_to_estimate() {
        let a = Accuracy::from_pairs([(100.0, 104.0), (200.0, 150.0), (100.0, 110.0)]);
        assert_eq!(a.jobs, 3);
        assert!((a.factor - 1.04).abs() < 1e-9, "{}", a.factor);
        assert_eq!(a.correct(1000), 1040);
    }

    #[test]
    fn the_factor_is_clamped_and_unusable_pairs_are_skipped() {
        let fast = Accuracy::from_pairs([(100.0, 1.0), (100.0, 2.0), (100.0, 3.0), (0.0, 5.0)]);
        assert_eq!((fast.jobs, fast.factor), (3, FACTOR_RANGE.0));
        let slow = Accuracy::from_pairs([(1.0, 100.0); 4]);
        assert_eq!(slow.factor, FACTOR_RANGE.1);
        assert_eq!(Accuracy::from_pairs([]), Accuracy::default());
    }

    #[test]
    fn only_the_newest_twenty_jobs_count() {
        let recent = std::iter::repeat_n((100.0, 120.0), WINDOW);
        let old = std::iter::repeat_n((100.0, 60.0), 30);
        let a = Accuracy::from_pairs(recent.chain(old));
        assert_eq!(a.jobs, WINDOW as u32);
        assert!((a.factor - 1.2).abs() < 1e-9);
    }
}
