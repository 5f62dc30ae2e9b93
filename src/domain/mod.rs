//! Pure domain types: identifiers and the states a job and a printer can be in.
//! Nothing here does I/O or knows a wire format.

mod ids;
mod job;
mod printer;
mod resume;

pub use ids::PrinterId;
pub use job::{JobId, JobStatus, Percent, QueuedStage};
pub use printer::{PrinterState, Temperature, Temperatures};
pub use resume::{LayerStart, MachineState, ResumePoint};
