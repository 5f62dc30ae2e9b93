//! The link to the FluxPrint cloud over MQTT with mutual TLS.
//!
//! - `tls`: the rustls client settings (ring provider, the operator's CA only, client cert).
//! - `fetch`: downloads of job files named by URL in `job.submit` (HTTPS, size cap, SHA-256).

pub mod fetch;
pub mod tls;
