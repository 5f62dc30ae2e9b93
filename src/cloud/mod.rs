//! The link to the FluxPrint cloud over MQTT with mutual TLS.
//!
//! So far only `tls`: the rustls client settings the MQTT connection uses.

pub mod fetch;
pub mod tls;
