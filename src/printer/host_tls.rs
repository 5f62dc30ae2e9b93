//! The TLS settings for one print host behind `https://` (OctoPrint, Moonraker): rustls with
//! the ring provider, trusting the system's CAs plus the printer's `ca_file` (OctoPi and home
//! servers often use a CA of their own). A driver's HTTP client and its websocket share one
//! config, so the two channels trust exactly the same certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Where Debian keeps the system's trusted CAs.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA file {path} is not PEM certificates")]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the CA file {path} holds no certificate")]
    Empty { path: PathBuf },
    #[error("a certificate in the CA file {path} cannot be a trust anchor")]
    Anchor {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// The client config for an OctoPrint: system CAs (when the bundle is there) and every
/// certificate of `ca_file`. Without ALPN: both channels speak HTTP/1.1.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TrustError> {
    let mut roots = RootCertStore::empty();
    if let Ok(certs) = CertificateDer::pem_file_iter(SYSTEM_CA_BUNDLE) {
        // A system certificate that cannot be a trust anchor is skipped, not trusted.
        let (_added, _skipped) = roots.add_parsable_certificates(certs.flatten());
    }
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|source| TrustError::Anchor {
                path: path.to_owned(),
                source,
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate in the operator's CA file; an empty file is a mistake worth reporting
/// rather than silently trusting only the system.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TrustError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = client_config(Some(&path)).unwrap_err();
        assert!(matches!(error, TrustError::Empty { .. }), "{error:?}");
        assert!(error.to_string().contains("ca.pem"), "{error}");
    }

    #[test]
    fn a_missing_ca_file_is_an_error_and_no_ca_file_trusts_the_system() {
        let missing = Path::new("/nonexistent/fluxprint-ca.pem");
        assert!(matches!(
            client_config(Some(missing)),
            Err(TrustError::Read { .. })
        ));
        assert!(client_config(None).is_ok());
    }
}
