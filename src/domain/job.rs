//! What a job is and which state it is in. The transitions between states live in
//! `jobs::lifecycle`; this file only names the states.

use std::fmt;

/// The gateway's own job number, shown to people as `#42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A whole percentage, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Percent(u8);

impl Percent {
    pub const ZERO: Percent = Percent(0);
    pub const FULL: Percent = Percent(100);

    /// Clamps to 100: a driver rounding up past the end is not an error.
    pub fn new(value: u8) -> Percent {
        Percent(value.min(100))
    }

    /// From a fraction of work done (bytes sent ÷ file size, say); rounds down so that
    /// 100 % is only shown when everything is done.
    pub fn from_fraction(done: u64, total: u64) -> Percent {
        if total == 0 {
            return Percent::ZERO;
        }
        Percent::new(((u128::from(done.min(total)) * 100) / u128::from(total)) as u8)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Why a queued job is not printing yet; the page shows it under "Queued".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueuedStage {
    /// The file is being downloaded from the URL the cloud gave.
    Fetching,
    /// The model is being sliced on the gateway.
    Slicing,
    /// The file is on disk and checked; the job can start.
    Ready,
}

impl QueuedStage {
    pub fn as_str(self) -> &'static str {
        match self {
            QueuedStage::Fetching => "fetching",
            QueuedStage::Slicing => "slicing",
            QueuedStage::Ready => "ready",
        }
    }

    pub fn parse(s: &str) -> Option<QueuedStage> {
        Some(match s {
            "fetching" => QueuedStage::Fetching,
            "slicing" => QueuedStage::Slicing,
            "ready" => QueuedStage::Ready,
            _ => return None,
        })
    }
}

/// A job's state, carrying what belongs to that state and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    Queued(QueuedStage),
    Printing {
        progress: Percent,
    },
    Paused {
        progress: Percent,
    },
    Completed,
    Failed {
        error: String,
    },
    Cancelled,
    /// The gateway or its host died while the job was on the printer.
    Interrupted {
        reason: String,
    },
}

impl JobStatus {
    /// Every wire string, in lifecycle order.
    pub const NAMES: [&'static str; 7] = [
        "queued",
        "printing",
        "paused",
        "completed",
        "failed",
        "cancelled",
        "interrupted",
    ];

    /// The wire and database string (DESIGN.md "Job lifecycle").
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Queued(_) => "queued",
            JobStatus::Printing { .. } => "printing",
            JobStatus::Paused { .. } => "paused",
            JobStatus::Completed => "completed",
            JobStatus::Failed { .. } => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Interrupted { .. } => "interrupted",
        }
    }

    pub fn progress(&self) -> Percent {
        match self {
            JobStatus::Printing { progress } | JobStatus::Paused { progress } => *progress,
            JobStatus::Completed => Percent::FULL,
            _ => Percent::ZERO,
        }
    }

    /// Completed, failed, cancelled and interrupted jobs never change again.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Completed
                | JobStatus::Failed { .. }
                | JobStatus::Cancelled
                | JobStatus::Interrupted { .. }
        )
    }

    /// On the printer right now (a paused job still holds the printer and the bed).
    pub fn is_on_printer(&self) -> bool {
        matches!(self, JobStatus::Printing { .. } | JobStatus::Paused { .. })
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            JobStatus::Failed { error } => Some(error),
            JobStatus::Interrupted { reason } => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_from_fraction_rounds_down_and_never_passes_full() {
        assert_eq!(Percent::from_fraction(999, 1000).get(), 99);
        assert_eq!(Percent::from_fraction(1000, 1000).get(), 100);
        assert_eq!(Percent::from_fraction(2000, 1000).get(), 100);
        assert_eq!(Percent::from_fraction(5, 0).get(), 0);
        assert_eq!(Percent::new(250).get(), 100);
    }

    #[test]
    fn queued_stage_round_trips_through_its_wire_string() {
        for stage in [
            QueuedStage::Fetching,
            QueuedStage::Slicing,
            QueuedStage::Ready,
        ] {
            assert_eq!(QueuedStage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(QueuedStage::parse("printing"), None);
    }
}
