//! The file server the fetch tests talk to: an axum router behind tokio-rustls (or plain
//! TCP) on 127.0.0.1:0, certificates made with rcgen, and a log of every requested path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::PrivateKeyDer;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use url::Url;

/// The download limit the tests configure; some files are sized against it.
pub const LIMIT: u64 = 64 * 1024;

/// A few kilobytes of plausible G-code.
pub fn gcode() -> Vec<u8> {
    let mut text = String::from("; FluxPrint fetch test\nG28\nG1 Z0.2 F600\n");
    for i in 0..400 {
        text.push_str(&format!("G1 X{} Y{} E{}.5\n", i % 200, i % 180, i));
    }
    text.into_bytes()
}

/// Twice the limit of valid G-code.
pub fn big_gcode() -> Vec<u8> {
    b"G1 X1 Y1\n".repeat(2 * LIMIT as usize / 9 + 1)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---- certificates -------------------------------------------------------------------------

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

/// Server settings with a certificate for 127.0.0.1 and localhost signed by `ca`.
fn server_tls(ca: &Ca) -> Arc<ServerConfig> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(DnType::CommonName, "store");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    // axum::serve here speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The object store's CA (written to a file the fetcher is told about) and a stranger's.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    /// A server identity signed by the CA in `ca_file`.
    pub trusted: Arc<ServerConfig>,
    /// A server identity signed by a CA the fetcher does not know.
    pub stranger: Arc<ServerConfig>,
}

pub fn pki() -> Pki {
    let (store_ca, stranger_ca) = (new_ca("object store CA"), new_ca("stranger CA"));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("store-ca.pem");
    std::fs::write(&ca_file, store_ca.cert.pem()).unwrap();
    Pki {
        ca_file,
        trusted: server_tls(&store_ca),
        stranger: server_tls(&stranger_ca),
        _dir: dir,
    }
}

// ---- servers ------------------------------------------------------------------------------

/// TLS on top of a TCP listener, for `axum::serve`. Failed handshakes are dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    accepted: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                self.accepted.fetch_add(1, Ordering::SeqCst);
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

type Log = Arc<Mutex<Vec<String>>>;

/// A file server on 127.0.0.1:0; see `routes` for what it serves.
pub struct Server {
    base: Url,
    log: Log,
    /// TLS connections accepted (HTTPS servers only).
    accepted: Arc<AtomicUsize>,
}

impl Server {
    pub async fn https(tls: &Arc<ServerConfig>) -> Server {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}/", tcp.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(tls.clone()),
            accepted: accepted.clone(),
        };
        let log = Log::default();
        tokio::spawn(axum::serve(listener, routes(log.clone())).into_future());
        Server {
            base: Url::parse(&base).unwrap(),
            log,
            accepted,
        }
    }

    pub async fn http() -> Server {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", tcp.local_addr().unwrap());
        let log = Log::default();
        tokio::spawn(axum::serve(tcp, routes(log.clone())).into_future());
        Server {
            base: Url::parse(&base).unwrap(),
            log,
            accepted: Arc::default(),
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// A URL on this server that redirects to `target`.
    pub fn redirect_to(&self, target: &Url) -> Url {
        let mut url = self.url("redirect");
        url.query_pairs_mut().append_pair("to", target.as_str());
        url
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn routes(log: Log) -> Router {
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    Router::new()
        .route("/good.gcode", get(|| async { gcode() }))
        .route("/picture.gcode", get(|| async { PNG.to_vec() }))
        .route("/big.gcode", get(|| async { big_gcode() }))
        .route("/stream.gcode", get(|| async { endless_gcode() }))
        .route("/missing.gcode", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/flaky.gcode",
            get(move || async move {
                match flaky_calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    _ => gcode().into_response(),
                }
            }),
        )
        .route("/hop/{n}", get(hop))
        .route("/redirect", get(redirect))
        .layer(middleware::from_fn_with_state(log, record))
}

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10";

/// Valid G-code in 1 KiB chunks with no Content-Length, three times past the limit: the
/// server never says how much is coming, only the running count can stop it.
fn endless_gcode() -> Response {
    let chunk = axum::body::Bytes::from(b"G1 X2 Y2\n".repeat(1024 / 9));
    let chunks = (0..3 * LIMIT / 1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

/// `/hop/n` redirects to `/hop/n-1`; `/hop/0` is the file.
async fn hop(UrlPath(n): UrlPath<u32>) -> Response {
    if n == 0 {
        gcode().into_response()
    } else {
        Redirect::to(&format!("/hop/{}", n - 1)).into_response()
    }
}

async fn redirect(Query(query): Query<HashMap<String, String>>) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, query["to"].clone())]).into_response()
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    log.lock().unwrap().push(request.uri().path().to_owned());
    next.run(request).await
}
