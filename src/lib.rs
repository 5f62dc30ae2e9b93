//! FluxPrint Gateway: the printer-side half of FluxPrint.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - `domain`   pure types shared by every module: ids, job and printer states.
//! - `platform` the host: systemd notify + watchdog, logging, serial port discovery.
//! - `cloud`    the MQTT/mTLS link to the cloud (so far: TLS client settings).
pub mod cloud;
pub mod domain;
pub mod platform;
