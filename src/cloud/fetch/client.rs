//! The HTTPS client job files are fetched with: rustls with `ring`, the system's CAs plus the
//! operator's extra CA, and reqwest with redirects, proxies and verification shortcuts off.
//!
//! Certificate verification cannot be switched off: the verifier is always the platform
//! verifier (system roots, plus `extra_ca_file` for private object stores) and nothing here
//! takes a flag to weaken it. Redirects are followed by the fetcher so that every hop is
//! checked against the URL policy. No proxy: the cloud link does not use one either, and a
//! proxy picked up from the environment would quietly change where files come from.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use rustls_platform_verifier::Verifier;

use super::error::FetchError;
use crate::config::DownloadsConfig;

/// How long to wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may stay silent (headers or body) before the attempt is abandoned.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for `config`'s downloads.
pub(super) fn build(config: &DownloadsConfig) -> Result<reqwest::Client, FetchError> {
    let tls = tls_config(config.extra_ca_file.as_deref())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(IDLE_TIMEOUT)
        // No idle connection kept between downloads: jobs come minutes apart, and a kept
        // connection held its TLS state and a read buffer grown to the last download's pace
        // (about 0.1 MiB, heaptrack; issue #14). A download costs one more handshake.
        .pool_max_idle_per_host(0)
        .user_agent(concat!("fluxprint-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| FetchError::Client { source })
}

fn tls_config(extra_ca_file: Option<&Path>) -> Result<ClientConfig, FetchError> {
    let extra_roots = match extra_ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier::new_with_extra_roots(extra_roots, provider.clone())
        .map_err(|source| FetchError::Verifier { source })?;
    let mut tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| FetchError::Verifier { source })?
        // "dangerous" is rustls's name for any verifier of one's own; this one is the
        // platform's full WebPKI verification.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest leaves ALPN to a preconfigured TLS setup. HTTP/1.1 only: a download is one
    // request at a time, and HTTP/2 support (the `h2` crate) was 0.3 MB of binary and so of
    // resident memory (issue #14).
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Every certificate in the operator's extra CA file; an empty file is a mistake worth
/// reporting rather than silently trusting only the system.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, FetchError> {
    let bytes = std::fs::read(path).map_err(|source| FetchError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| FetchError::CaFilePem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(FetchError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}
