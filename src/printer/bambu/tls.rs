//! TLS to a Bambu printer: its MQTT broker and its FTPS server present a certificate signed
//! by Bambu's CA whose subject CN is the printer's serial number (no DNS name: the printer
//! is reached by its LAN address). The verifier here checks the chain against the
//! configured `ca_file` only (webpki, ring) and then the name: a SAN equal to the serial, or
//! else the CN. A certificate for another printer, or from another CA, is refused.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::printer::host_tls::{TrustError, read_ca_file};

/// The client config for one printer: only `ca_file`'s CAs, the name checked as `serial`.
pub fn client_config(ca_file: &Path, serial: &str) -> Result<Arc<ClientConfig>, TrustError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in read_ca_file(ca_file)? {
        roots.add(cert).map_err(|source| TrustError::Anchor {
            path: ca_file.to_owned(),
            source,
        })?;
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TrustError::Anchor {
            path: ca_file.to_owned(),
            source: rustls::Error::General(e.to_string()),
        })?;
    let verifier = SerialVerifier {
        chain,
        serial: serial.to_owned(),
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The chain by webpki, the name by the printer's serial.
#[derive(Debug)]
struct SerialVerifier {
    chain: Arc<WebPkiServerVerifier>,
    serial: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SerialVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name asked for is the serial, whatever address the printer was reached at;
        // webpki checks the chain first and only then the name.
        let name = ServerName::try_from(self.serial.as_str())
            .map_err(|_| rustls::Error::General(format!("serial {:?}", self.serial)))?
            .to_owned();
        let checked =
            self.chain
                .verify_server_cert(end_entity, intermediates, &name, ocsp_response, now);
        match checked {
            Ok(verified) => Ok(verified),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => match subject_common_name(end_entity.as_ref()) {
                Some(cn) if cn == self.serial => Ok(ServerCertVerified::assertion()),
                found => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    rustls::OtherError(Arc::new(WrongPrinter {
                        expected: self.serial.clone(),
                        found,
                    })),
                ))),
            },
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A certificate from the right CA, but for another printer (or none).
#[derive(Debug, thiserror::Error)]
#[error("the certificate is for {found:?}, not the printer with serial {expected:?}")]
struct WrongPrinter {
    expected: String,
    found: Option<String>,
}

/// The subject's common name of a DER certificate (the last CN, as TLS libraries take it).
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    const CN_OID: &[u8] = &[0x55, 0x04, 0x03];
    let (_, cert, _) = tlv(der)?;
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    // Optional version [0], serial, signature algorithm, issuer, validity, then subject.
    if tbs.first() == Some(&0xA0) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (_, mut subject, _) = tlv(tbs)?;
    let mut cn = None;
    while !subject.is_empty() {
        let (_, set, rest) = tlv(subject)?;
        subject = rest;
        let (_, attribute, _) = tlv(set)?;
        let (_, oid, value) = tlv(attribute)?;
        if oid == CN_OID {
            let (_, text, _) = tlv(value)?;
            cn = Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    cn
}

/// One DER tag-length-value: (tag, contents, what follows).
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, b| (len << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_name_is_read_from_a_certificate() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "BBL Technologies");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "01S00C123456789");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_common_name(cert.der()).as_deref(),
            Some("01S00C123456789")
        );
        assert_eq!(subject_common_name(&[0x30, 0x05, 0x01]), None);
    }
}
