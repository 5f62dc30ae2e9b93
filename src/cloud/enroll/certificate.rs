//! What the gateway checks about a certificate the cloud gave it, before it stores it: it is
//! for our key (the public key is ours), it is for our id (the CN), and it chains to the
//! configured CA as a client certificate — the same check the broker will make, so a
//! certificate that would be refused at the next connect is refused here, with the reason.
//! Also the validity of a stored certificate, for renewal and `/metrics`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{KeyPair, PublicKeyData};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::cloud::tls;

/// Why a certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("the certificate is not PEM: {0}")]
    Pem(#[from] rustls_pki_types::pem::Error),
    #[error("no certificate in the PEM")]
    Empty,
    #[error("the certificate is not valid X.509 DER")]
    Der,
    #[error("the certificate has no subject CN")]
    NoCommonName,
    #[error("the certificate is for {found:?}, not for {expected:?}")]
    WrongName { expected: String, found: String },
    #[error("the certificate is not for this gateway's key")]
    WrongKey,
    #[error("the CA file: {0}")]
    Ca(#[from] tls::TlsError),
    #[error("the certificate does not chain to the configured CA: {0}")]
    Chain(#[source] rustls::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A certificate's name and validity, in seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub common_name: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The first certificate in `pem`, as DER, with the rest (intermediates).
fn chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain: Vec<_> = CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>()?;
    if chain.is_empty() {
        return Err(CertError::Empty);
    }
    Ok(chain)
}

/// The name and validity of the first certificate in `pem`.
pub fn issued(pem: &[u8]) -> Result<Issued, CertError> {
    let chain = chain(pem)?;
    read(&chain[0], |_| Ok(()))
}

/// The name and validity of the certificate file's first certificate.
pub fn issued_file(path: &Path) -> Result<Issued, CertError> {
    let pem = std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_owned(),
        source,
    })?;
    issued(&pem)
}

fn read(
    der: &CertificateDer<'_>,
    also: impl FnOnce(&X509Certificate<'_>) -> Result<(), CertError>,
) -> Result<Issued, CertError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| CertError::Der)?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or(CertError::NoCommonName)?
        .to_owned();
    also(&cert)?;
    let validity = cert.validity();
    Ok(Issued {
        common_name,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// Checks that `pem` (leaf first) is a client certificate for `key`, named `expected_cn`,
/// chaining to the CA file's certificates at `at` (`None`: now). Returns its validity.
pub fn check_issued(
    pem: &[u8],
    key: &KeyPair,
    ca_file: &Path,
    expected_cn: &str,
    at: Option<SystemTime>,
) -> Result<Issued, CertError> {
    let chain = chain(pem)?;
    let issued = read(&chain[0], |cert| {
        if cert.public_key().subject_public_key.data.as_ref() == key.der_bytes() {
            Ok(())
        } else {
            Err(CertError::WrongKey)
        }
    })?;
    if issued.common_name != expected_cn {
        return Err(CertError::WrongName {
            expected: expected_cn.to_owned(),
            found: issued.common_name,
        });
    }
    let roots = Arc::new(tls::load_roots(ca_file)?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| CertError::Chain(rustls::Error::General(e.to_string())))?;
    let at = at.unwrap_or_else(SystemTime::now);
    let now = UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO));
    verifier
        .verify_client_cert(&chain[0], &chain[1..], now)
        .map_err(CertError::Chain)?;
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer};

    use super::*;

    fn ca(dir: &Path, name: &str) -> (Issuer<'static, KeyPair>, std::path::PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, cert.pem()).unwrap();
        (Issuer::new(params, key), path)
    }

    fn leaf(issuer: &Issuer<'static, KeyPair>, key: &KeyPair, cn: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.signed_by(key, issuer).unwrap().pem()
    }

    #[test]
    fn a_certificate_must_be_for_our_key_our_name_and_our_ca() {
        let dir = tempfile::tempdir().unwrap();
        let (fleet, fleet_file) = ca(dir.path(), "fleet");
        let (stranger, _) = ca(dir.path(), "stranger");
        let key = KeyPair::generate().unwrap();
        let other_key = KeyPair::generate().unwrap();

        let good = leaf(&fleet, &key, "gw-1");
        let issued = check_issued(good.as_bytes(), &key, &fleet_file, "gw-1", None).unwrap();
        assert_eq!(issued.common_name, "gw-1");
        assert!(issued.not_after > issued.not_before);

        let check = |pem: String| check_issued(pem.as_bytes(), &key, &fleet_file, "gw-1", None);
        assert!(matches!(
            check(leaf(&fleet, &other_key, "gw-1")),
            Err(CertError::WrongKey)
        ));
        assert!(matches!(
            check(leaf(&fleet, &key, "gw-2")),
            Err(CertError::WrongName { .. })
        ));
        assert!(matches!(
            check(leaf(&stranger, &key, "gw-1")),
            Err(CertError::Chain(_))
        ));
        assert!(matches!(check(String::new()), Err(CertError::Empty)));
    }
}
