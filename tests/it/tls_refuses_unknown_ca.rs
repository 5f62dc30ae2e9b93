//! The cloud TLS client trusts exactly the operator's CA and presents its client certificate.
//!
//! A real tokio-rustls server on 127.0.0.1 with a certificate from CA "A", requiring client
//! certificates from A. The gateway's client settings built from A's file get through; built
//! from an unrelated CA "B" they are refused during the handshake with a certificate error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluxprint_gateway::cloud::tls::{TlsError, client_config, install_crypto_provider};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        issuer: Issuer::new(params, key),
        cert,
    }
}

/// A leaf certificate signed by `ca`, with its key.
fn leaf(ca: &Ca, common_name: &str, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert, key)
}

/// PEM files on disk, as an operator would install them.
struct Files {
    _dir: tempfile::TempDir,
    ca_a: PathBuf,
    ca_b: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// CA A, CA B, and a server config for `localhost` signed by A that requires client
/// certificates from A.
fn setup() -> (Files, Arc<ServerConfig>) {
    let (ca_a, ca_b) = (new_ca("fleet CA A"), new_ca("stranger CA B"));
    let (server_cert, server_key) = leaf(&ca_a, "broker", &["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = leaf(&ca_a, "gw-001", &[]);

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let files = Files {
        ca_a: write("ca-a.pem", ca_a.cert.pem()),
        ca_b: write("ca-b.pem", ca_b.cert.pem()),
        client_cert: write("gw-001.pem", client_cert.pem()),
        client_key: write("gw-001.key", client_key.serialize_pem()),
        _dir: dir,
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_roots = RootCertStore::empty();
    client_roots.add(ca_a.cert.der().clone()).unwrap();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .build()
            .unwrap();
    let key = PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    (files, Arc::new(server))
}

/// Accepts one connection and echoes one byte back; the handshake outcome is returned.
async fn serve_once(
    server: Arc<ServerConfig>,
) -> (u16, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = TlsAcceptor::from(server).accept(tcp).await?;
        let byte = tls.read_u8().await?;
        tls.write_u8(byte).await?;
        tls.shutdown().await
    });
    (port, task)
}

async fn connect(
    port: u16,
    ca: &Path,
    files: &Files,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let config = client_config(ca, &files.client_cert, &files.client_key).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

#[tokio::test]
async fn client_trusting_the_fleet_ca_completes_the_handshake_and_exchanges_a_byte() {
    install_crypto_provider();
    let (files, server) = setup();
    let (port, server_task) = serve_once(server).await;

    let mut tls = connect(port, &files.ca_a, &files).await.unwrap();
    tls.write_u8(0x2a).await.unwrap();

    assert_eq!(tls.read_u8().await.unwrap(), 0x2a);
    server_task.await.unwrap().unwrap();
}

#[tokio::test]
async fn client_trusting_another_ca_refuses_the_server_as_unknown_issuer() {
    install_crypto_provider();
    let (files, server) = setup();
    let (port, server_task) = serve_once(server).await;

    let error = connect(port, &files.ca_b, &files).await.unwrap_err();

    let cause = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    assert!(
        matches!(
            cause,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "expected an unknown-issuer certificate error, got {error:?}"
    );
    assert!(
        server_task.await.unwrap().is_err(),
        "server must not see a session"
    );
}

#[test]
fn ca_file_without_a_certificate_is_an_error_naming_it() {
    let (files, _) = setup();
    let empty_ca = files.client_key.with_file_name("only-a-key.pem");
    std::fs::copy(&files.client_key, &empty_ca).unwrap();

    let error = client_config(&empty_ca, &files.client_cert, &files.client_key).unwrap_err();

    assert!(
        matches!(error, TlsError::NoCaCertificate { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("only-a-key.pem"), "{error}");
}

#[test]
fn missing_key_file_is_an_error_naming_it() {
    let (files, _) = setup();
    let missing = files.client_key.with_file_name("gw-001-missing.key");

    let error = client_config(&files.ca_a, &files.client_cert, &missing).unwrap_err();

    assert!(
        matches!(&error, TlsError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{error:?}"
    );
    assert!(error.to_string().contains("gw-001-missing.key"), "{error}");
}

#[test]
fn key_file_holding_no_key_is_an_error_naming_it() {
    let (files, _) = setup();

    let error = client_config(&files.ca_a, &files.client_cert, &files.client_cert).unwrap_err();

    assert!(matches!(error, TlsError::NoPrivateKey { .. }), "{error:?}");
    assert!(error.to_string().contains("gw-001.pem"), "{error}");
}

#[tokio::test]
async fn every_certificate_in_a_ca_bundle_is_trusted() {
    install_crypto_provider();
    let (files, server) = setup();
    let bundle = files.ca_a.with_file_name("bundle.pem");
    let mut pem = std::fs::read_to_string(&files.ca_b).unwrap();
    pem.push_str(&std::fs::read_to_string(&files.ca_a).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    let (port, server_task) = serve_once(server).await;

    let mut tls = connect(port, &bundle, &files).await.unwrap();
    tls.write_u8(7).await.unwrap();

    assert_eq!(tls.read_u8().await.unwrap(), 7);
    server_task.await.unwrap().unwrap();
}
