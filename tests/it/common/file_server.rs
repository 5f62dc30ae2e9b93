//! A file server for the cloud tests' job downloads: HTTPS on 127.0.0.1 with the test broker's
//! certificate (the per-run test CA vouches for it), one file, keep-alive connections.

use std::sync::Arc;

use super::mosquitto::Pki;

/// An HTTPS server on 127.0.0.1 (the broker's certificate, so the test CA vouches for it)
/// that answers every GET with one file, keeping each connection open for further requests
/// (HTTP/1.1 keep-alive, as a CDN does) until the client closes it or asks to.
pub struct FileServer {
    pub url: String,
    pub sha256: String,
}

impl FileServer {
    pub async fn start(pki: &Pki, name: &str, content: Vec<u8>) -> FileServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use sha2::Digest;

        let certs = CertificateDer::pem_file_iter(&pki.server_cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sha256 = hex::encode(sha2::Sha256::digest(&content));
        let content = Arc::new(content);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, content) = (acceptor.clone(), content.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve_keep_alive(tls, &content).await;
                    }
                });
            }
        });
        FileServer {
            url: format!("https://127.0.0.1:{port}/{name}"),
            sha256,
        }
    }
}

/// Answers requests on one connection until the client closes it or sends `connection: close`.
async fn serve_keep_alive<S>(mut stream: S, content: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut buffered = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(at) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffered.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffered[..end]).to_ascii_lowercase();
        buffered.drain(..end);
        let close = head.contains("connection: close");
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\nconnection: {}\r\n\r\n",
            content.len(),
            if close { "close" } else { "keep-alive" }
        );
        let mut response = reply.into_bytes();
        response.extend_from_slice(content);
        if stream.write_all(&response).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}
