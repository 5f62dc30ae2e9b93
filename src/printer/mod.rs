//! Printers: one actor per configured printer, the driver seam, and the drivers.

mod actor;
mod builtin;
pub mod driver;
pub mod sim;
mod status;

pub use actor::{Control, PrinterError, PrinterHandle, spawn};
pub use builtin::BuiltinDrivers;
pub use status::{Current, Link, PrinterStatus, derive_state};
