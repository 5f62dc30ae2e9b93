//! Pure domain types: identifiers and the states a job and a printer can be in.
//! Nothing here does I/O or knows a wire format.

mod ids;
pub use ids::PrinterId;
