//! FluxPrint Gateway: the printer-side half of FluxPrint.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - `app`      wiring: store, recovery, printer actors, shutdown in order.
//! - `cloud`    the cloud link (TLS client configuration so far).
//! - `config`   raw TOML/env config → validated typed `Config`.
//! - `domain`   pure types shared by every module: ids, job and printer states.
//! - `events`   gateway events, stored in the outbox then fanned out.
//! - `gateway`  the one command surface both doors (LAN, cloud) call.
//! - `jobs`     the SQLite job store thread, schema, queue, lifecycle, outbox.
//! - `platform` systemd notify/watchdog, logging, serial port listing.
//! - `printer`  per-printer actors and the driver seam.
pub mod app;
pub mod cloud;
pub mod config;
pub mod domain;
pub mod events;
pub mod gateway;
pub mod jobs;
pub mod platform;
pub mod printer;
