//! The serial driver for Marlin-family printers: a port thread per printer that owns the
//! port, the sans-IO protocol session (`protocol`), the job stream and the safety policy.

mod connection;
mod job;
mod port;
pub mod protocol;
pub mod safety;
mod stats;
mod stream;

pub use port::{PortSettings, spawn};
pub use safety::{Refusal, Safety};
pub use stats::{LatencySnapshot, OK_LATENCY_BOUNDS, SerialStats, StatsSnapshot};
pub use stream::Scripts;
