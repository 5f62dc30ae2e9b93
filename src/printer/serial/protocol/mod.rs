//! Sans-IO Marlin host protocol: line framing, reply parsing and the [`Session`] state
//! machine that decides what to write next. Nothing here touches a port, a thread or a
//! clock; the port thread feeds it lines and millisecond timestamps and performs the
//! returned [`Action`]s.
pub mod error;
mod event;
pub mod firmware;
pub mod line;
mod liveness;
pub mod reply;
mod session;
mod stream;
pub mod temps;

pub use error::{FirmwareError, FirmwareErrorKind};
pub use event::{
    Action, FallbackReason, FlowControl, Halt, ProtocolError, Pushed, SessionConfig, SessionError,
    SessionEvent, StallCause, TimeoutKind,
};
pub use firmware::FirmwareInfo;
pub use reply::{BusyKind, Reply};
pub use session::Session;
pub use temps::{Heater, Reading, Temperatures};

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod stall_tests;
#[cfg(test)]
mod transcript_tests;
