//! An `https://` front for a plain-HTTP server (a real OctoPrint): a TLS-terminating proxy on
//! 127.0.0.1:0 (tokio-rustls, ring) with a per-run CA and a certificate for 127.0.0.1 made
//! with rcgen, plus a stranger CA for "wrong CA" tests. It records the first request line of
//! every connection whose handshake completed, so a test can tell a websocket from REST, and
//! can refuse websocket upgrades (as some reverse proxies do).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rcgen::{CertificateParams, DnType, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::PrivateKeyDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::pki::new_ca;

/// The longest request head the proxy reads before forwarding it.
const HEAD_LIMIT: usize = 16 * 1024;

pub struct TlsProxy {
    pub url: url::Url,
    /// The CA that signed the proxy's certificate.
    pub ca_file: PathBuf,
    /// A CA that did not.
    pub stranger_ca_file: PathBuf,
    first_lines: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    /// Serves `https://127.0.0.1:<port>/` in front of `upstream` (plain HTTP).
    pub async fn start(upstream: SocketAddr) -> TlsProxy {
        TlsProxy::serving(upstream, false).await
    }

    /// As [`TlsProxy::start`], but every websocket upgrade is answered 403.
    pub async fn without_websockets(upstream: SocketAddr) -> TlsProxy {
        TlsProxy::serving(upstream, true).await
    }

    async fn serving(upstream: SocketAddr, refuse_websockets: bool) -> TlsProxy {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (ca, stranger) = (new_ca("OctoPi CA"), new_ca("stranger CA"));
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("octopi-ca.pem");
        let stranger_ca_file = dir.path().join("stranger-ca.pem");
        std::fs::write(&ca_file, ca.1.pem()).unwrap();
        std::fs::write(&stranger_ca_file, stranger.1.pem()).unwrap();
        let acceptor = TlsAcceptor::from(server_tls(&ca.0));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_lines = Arc::new(Mutex::new(Vec::new()));
        let relay = Relay {
            upstream,
            first_lines: first_lines.clone(),
            refuse_websockets,
        };
        let task = tokio::spawn(serve(listener, acceptor, relay));
        TlsProxy {
            url: format!("https://127.0.0.1:{port}/").parse().unwrap(),
            ca_file,
            stranger_ca_file,
            first_lines,
            task,
            _dir: dir,
        }
    }

    /// The first request line of each connection that completed its TLS handshake.
    pub fn first_lines(&self) -> Vec<String> {
        self.first_lines.lock().unwrap().clone()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_tls(ca: &Issuer<'static, KeyPair>) -> Arc<ServerConfig> {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "octopi");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    Arc::new(config)
}

/// Where and how connections are relayed.
#[derive(Clone)]
struct Relay {
    upstream: SocketAddr,
    first_lines: Arc<Mutex<Vec<String>>>,
    refuse_websockets: bool,
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, relay: Relay) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let (acceptor, relay) = (acceptor.clone(), relay.clone());
        tokio::spawn(async move {
            // A refused handshake (the client does not trust us) just ends the connection.
            if let Ok(tls) = acceptor.accept(tcp).await {
                relay.run(tls).await;
            }
        });
    }
}

impl Relay {
    /// Reads the request head and records its first line, then relays both ways until
    /// either side closes (or refuses a websocket upgrade).
    async fn run(&self, mut client: TlsStream<TcpStream>) {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_LIMIT {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let line = String::from_utf8_lossy(&head);
        let line = line.lines().next().unwrap_or("").to_owned();
        self.first_lines.lock().unwrap().push(line);
        if self.refuse_websockets && text.contains("upgrade: websocket") {
            let refusal =
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = client.write_all(refusal.as_bytes()).await;
            return;
        }
        let Ok(mut server) = TcpStream::connect(self.upstream).await else {
            return;
        };
        if server.write_all(&head).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}
