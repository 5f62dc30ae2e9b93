//! FluxPrint Gateway: the printer-side half of FluxPrint.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - `domain`   pure types shared by every module: ids, job and printer states.
pub mod config;
pub mod domain;
pub mod events;
pub mod jobs;
pub mod printer;
pub mod gateway;
pub mod app;
