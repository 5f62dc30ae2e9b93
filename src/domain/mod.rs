//! Pure domain types: identifiers and the states a job and a printer can be in.
//! Nothing here does I/O or knows a wire format, except `PrintOptions`, whose JSON names are
//! a contract of both doors and the store (see its module).

mod ids;
mod job;
mod options;
mod printer;
mod resume;

pub use ids::PrinterId;
pub use job::{JobId, JobStatus, Percent, QueuedStage};
pub use options::{OptionsError, PrintOptions};
pub use printer::{PrinterState, Temperature, Temperatures};
pub use resume::{LayerStart, MachineState, ResumePoint};
