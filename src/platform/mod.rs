//! The host around the gateway: systemd notifications and watchdog, logging to journald or
//! stderr, and discovery of the serial ports printers are plugged into.
//!
//! Nothing here knows about jobs or printers; `app` wires these into start-up and shutdown.

pub mod logging;
pub mod notify;
pub mod ports;
pub mod signals;
