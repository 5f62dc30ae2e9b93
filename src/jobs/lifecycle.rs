//! The job lifecycle as a pure state machine (DESIGN.md "Job lifecycle"):
//!
//! ```text
//! queued ──> printing <──> paused
//!   │           │            │
//!   │           ├──> completed
//!   │           ├──> failed
//!   └───────────┴──> cancelled
//! printing/paused ──> interrupted ──(recover)──> printing
//! ```
//!
//! The store applies these transitions inside the transaction that writes the job, so an
//! illegal change (resuming a cancelled job, completing a queued one) never reaches disk.

use crate::domain::{JobStatus, Percent, QueuedStage};

/// Something that happens to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A queued job moves to another sub-state (fetching → ready, …).
    Stage(QueuedStage),
    Start,
    Progress(Percent),
    Pause,
    Resume,
    Complete,
    Fail(String),
    Cancel,
    Interrupt(String),
    /// An interrupted job prints again from a point its journal kept (crash recovery).
    Recover,
}

impl Transition {
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Stage(_) => "stage",
            Transition::Start => "start",
            Transition::Progress(_) => "progress",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::Complete => "complete",
            Transition::Fail(_) => "fail",
            Transition::Cancel => "cancel",
            Transition::Interrupt(_) => "interrupt",
            Transition::Recover => "recover",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot {transition}")]
pub struct IllegalTransition {
    pub from: &'static str,
    pub transition: &'static str,
}

/// The state after `transition`, or why it is not allowed from `current`.
pub fn next(current: &JobStatus, transition: Transition) -> Result<JobStatus, IllegalTransition> {
    use JobStatus as S;
    use Transition as T;
    let illegal = || IllegalTransition {
        from: current.as_str(),
        transition: transition.name(),
    };
    let next = match (current, &transition) {
        (S::Queued(_), T::Stage(stage)) => S::Queued(*stage),
        (S::Queued(QueuedStage::Ready), T::Start) => S::Printing {
            progress: Percent::ZERO,
        },
        (S::Printing { .. }, T::Progress(p)) => S::Printing { progress: *p },
        (S::Paused { .. }, T::Progress(p)) => S::Paused { progress: *p },
        (S::Printing { progress }, T::Pause) => S::Paused {
            progress: *progress,
        },
        (S::Paused { progress }, T::Resume) => S::Printing {
            progress: *progress,
        },
        (S::Printing { .. }, T::Complete) => S::Completed,
        (S::Queued(_) | S::Printing { .. } | S::Paused { .. }, T::Fail(error)) => S::Failed {
            error: error.clone(),
        },
        (S::Queued(_) | S::Printing { .. } | S::Paused { .. }, T::Cancel) => S::Cancelled,
        (S::Printing { .. } | S::Paused { .. }, T::Interrupt(reason)) => S::Interrupted {
            reason: reason.clone(),
        },
        (S::Interrupted { .. }, T::Recover) => S::Printing {
            progress: Percent::ZERO,
        },
        _ => return Err(illegal()),
    };
    Ok(next)
}

#[cfg(test)]
mod tests;
