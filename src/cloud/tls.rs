//! mTLS client settings for the cloud link: trust only the operator's CA, present our cert.
//!
//! The broker is trusted only through the CA file in the config (no system roots: a public
//! CA must not be able to impersonate the fleet's broker), and the gateway proves who it is
//! with its client certificate, whose CN is the gateway id. Verification cannot be switched
//! off: there is no parameter for it and no code path that builds a permissive verifier.
//! Everything uses rustls with the `ring` provider, the only one this crate is built with.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::{ResolvesClientCert, Resumption};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the TLS client settings could not be built. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid PEM")]
    Pem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("CA file {path} holds no PEM certificate")]
    NoCaCertificate { path: PathBuf },
    #[error("CA file {path}: certificate #{number} cannot be a trust anchor")]
    BadCaCertificate {
        path: PathBuf,
        /// 1-based position of the certificate in the file.
        number: usize,
        #[source]
        source: rustls::Error,
    },
    #[error("certificate file {path} holds no PEM certificate")]
    NoClientCertificate { path: PathBuf },
    #[error("key file {path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoPrivateKey { path: PathBuf },
    #[error("client certificate {cert} and key {key} cannot be used together")]
    ClientIdentity {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS protocol versions are not supported by the crypto provider")]
    Protocol {
        #[source]
        source: rustls::Error,
    },
}

/// Installs `ring` as the process-wide rustls provider, for libraries that ask rustls for the
/// default. Idempotent: later calls, or a provider installed earlier, change nothing.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Client settings trusting only the certificates in `ca_file`, authenticating with the
/// chain in `cert_file` (leaf first) and the private key in `key_file`, all PEM.
pub fn client_config(
    ca_file: &Path,
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = load_roots(ca_file)?;
    let chain = load_chain(cert_file)?;
    let key = load_key(key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Protocol { source })?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|source| TlsError::ClientIdentity {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
            source,
        })?;
    Ok(Arc::new(config))
}

/// The client certificate and key the cloud link presents, swappable while the link runs:
/// a renewed certificate takes effect at the next connection, no new client needed.
#[derive(Debug)]
pub struct Identity {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Identity {
    /// The identity in `cert_file` (leaf first) and `key_file`, which must belong together.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Identity, TlsError> {
        Ok(Identity {
            current: RwLock::new(certified(cert_file, key_file)?),
        })
    }

    /// Presents `cert_file`/`key_file` from the next connection on; on error nothing changes.
    pub fn swap(&self, cert_file: &Path, key_file: &Path) -> Result<(), TlsError> {
        let next = certified(cert_file, key_file)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

impl ResolvesClientCert for Identity {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = load_chain(cert_file)?;
    let key = load_key(key_file)?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map(Arc::new)
        .map_err(|source| TlsError::ClientIdentity {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
            source,
        })
}

/// The cloud link's client settings: like `client_config`, presenting whatever `identity`
/// holds. No TLS session resumption: a resumed session would carry the identity of the
/// connection it resumes, and the broker would not see a renewed certificate.
pub fn link_config(ca_file: &Path, identity: Arc<Identity>) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = load_roots(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Protocol { source })?
        .with_root_certificates(roots)
        .with_client_cert_resolver(identity);
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// Every certificate in the CA file becomes a trust anchor; one bad one fails the whole file
/// rather than silently trusting less than the operator wrote.
pub(crate) fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let certs = read_certs(path)?;
    if certs.is_empty() {
        return Err(TlsError::NoCaCertificate {
            path: path.to_owned(),
        });
    }
    let mut roots = RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|source| TlsError::BadCaCertificate {
                path: path.to_owned(),
                number: index + 1,
                source,
            })?;
    }
    Ok(roots)
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = read_certs(path)?;
    if chain.is_empty() {
        return Err(TlsError::NoClientCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        source => TlsError::Pem {
            path: path.to_owned(),
            source,
        },
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}
