//! FluxPrint Gateway: the printer-side half of FluxPrint.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - `domain`   pure types shared by every module: ids, job and printer states.
//! - `printer`  printer drivers; `printer::sim` is the built-in virtual Marlin printer.
pub mod domain;
pub mod printer;
