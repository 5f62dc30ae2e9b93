//! A driver's own figures: the counters, gauges and histograms it keeps about its link to the
//! printer (lines written, resends, answer latency, …). The driver hands them to the actor
//! in its `DriverLink` behind [`LinkFigures`], and whoever reads them (`/metrics`) writes each
//! one out by its name, help and kind, so neither the seam nor the reader names a driver. A
//! driver adds a figure by listing it in its own `LinkFigures::figures`; nothing else changes.

/// The figures one driver keeps about its link. The driver updates them as it works and
/// readers take them at any moment (a scrape), so reading is cheap and never waits on the
/// driver (atomics, not the driver's own locks).
pub trait LinkFigures: Send + Sync {
    /// Every figure as it is now, in a stable order. Names are metric names (`snake_case`,
    /// starting with the kind of link, e.g. `serial_`), unique within the driver; a
    /// counter's name leaves out `_total`, which the exposition adds.
    fn figures(&self) -> Vec<Figure>;
}

/// One named figure at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: &'static str,
    pub help: &'static str,
    pub reading: Reading,
}

/// A figure's kind and value.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Only goes up while the driver runs (lines written, timeouts).
    Counter(u64),
    /// Goes up and down (a mode, a level).
    Gauge(i64),
    /// A distribution of observations (latencies).
    Histogram(Histogram),
}

/// A histogram of fixed buckets at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative): `(upper bound, count)`; the last bound is `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of every observation.
    pub sum: f64,
    /// How many observations there were (the buckets' counts added up).
    pub count: u64,
}

impl Figure {
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Figure {
        Figure {
            name,
            help,
            reading: Reading::Counter(value),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str, value: i64) -> Figure {
        Figure {
            name,
            help,
            reading: Reading::Gauge(value),
        }
    }

    pub fn histogram(name: &'static str, help: &'static str, value: Histogram) -> Figure {
        Figure {
            name,
            help,
            reading: Reading::Histogram(value),
        }
    }
}

impl Reading {
    /// Whether `self` and `other` are of the same kind (so they can share a metric family).
    pub fn same_kind(&self, other: &Reading) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}
