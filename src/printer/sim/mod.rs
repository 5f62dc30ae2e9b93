//! The built-in virtual printer: a Marlin-family firmware as a sans-IO state machine.
//!
//! Bytes go in with [`Firmware::receive`], time passes with [`Firmware::poll`] (a monotonic
//! millisecond count the caller supplies), and every call returns the bytes the printer
//! printed. [`Firmware::next_deadline`] tells the I/O loop when to poll next, so it never
//! spins. It models what makes talking to a real board hard: a 128-byte receive buffer that
//! drops overflow, a 4-slot command queue, line numbers and checksums with `Resend:`,
//! `busy:` keepalives, blocking heat-ups, a filament change waiting for the user, and
//! injectable faults (corrupted lines, thermal runaway, MAXTEMP). Tests read back what it
//! accepted with [`Firmware::accepted_commands`]. The firmware itself does no I/O:
//! [`SimDevice`] runs it on a thread of its own behind a pseudo-terminal (`pty`), paced by
//! the emulated wire (`wire`), so the gateway's real serial stack talks to it by path.

pub mod device;
mod exec;
mod firmware;
mod inject;
mod input;
mod line;
mod motion;
mod pty;
mod record;
mod replies;
mod thermal;
mod timers;
mod wire;
mod words;

#[cfg(test)]
mod tests;

/// The simulator's settings live with the rest of the configuration; they are the
/// simulator's too, so its users find them here.
pub use crate::config::{FirmwareFlavor, SimConfig, SimConfigError};
pub use device::{SimDevice, SimDeviceError, WireCharge};
pub use firmware::Firmware;
pub use line::checksum;
pub use motion::Position;
pub use record::AcceptedCommand;
pub use replies::KillReason;
pub use thermal::{HeaterId, HeaterState};
