//! Printers: one actor per configured printer, the driver seam, and the drivers.

mod actor;
pub mod bambu;
pub mod builtin;
mod causes;
pub mod driver;
pub mod figures;
mod handle;
pub mod host;
pub mod host_tls;
pub mod moonraker;
pub mod octoprint;
pub mod recovery;
pub mod safety;
pub mod serial;
pub mod sim;
mod status;
mod timing;
mod tracked;

pub use actor::spawn;
pub use builtin::BuiltinDrivers;
pub use handle::{Control, PrinterError, PrinterHandle};
pub use recovery::{RecoverError, RecoverOptions, Recovery};
pub use status::{Current, ExternalPrint, Link, PrinterStatus, Remaining, derive_state};
