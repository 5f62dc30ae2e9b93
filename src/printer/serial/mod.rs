//! The serial driver for Marlin-family printers: a port thread per printer that owns the
//! port, the sans-IO protocol session (`protocol`), the job stream and the link's counters;
//! every job line passes `printer::safety` before it is sent.

mod connection;
mod job;
mod journal;
mod port;
pub mod protocol;
mod stats;
mod stream;

pub use port::{PortSettings, spawn};
pub use stats::{OK_LATENCY_BOUNDS, STALL_BOUNDS, SerialStats, StatsSnapshot};
pub use stream::Scripts;
