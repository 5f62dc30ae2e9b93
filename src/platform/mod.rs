//! The host around the gateway: systemd notifications and watchdog, logging to journald or
//! stderr, discovery of the serial ports printers are plugged into, and the allocator's
//! settings.
//!
//! Nothing here knows about jobs or printers; `app` wires these into start-up and shutdown.

pub mod logging;
pub mod memory;
pub mod notify;
pub mod ports;
pub mod signals;
