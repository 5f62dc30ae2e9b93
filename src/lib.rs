//! FluxPrint Gateway: the printer-side half of FluxPrint.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - `domain`   pure types shared by every module: ids, job and printer states.
pub mod domain;
pub mod printer;
