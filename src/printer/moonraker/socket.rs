//! Moonraker's websocket at `/websocket` (`wss://` for an `https://` Moonraker, with the
//! HTTP client's TLS settings), authenticated with `X-Api-Key` on the upgrade request. It
//! carries JSON-RPC text frames both ways; what they mean is [`rpc`](super::rpc)'s business.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::Secret;

/// Connecting and upgrading take milliseconds on a LAN.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("Moonraker's websocket at {url}: {source}")]
    Socket {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("Moonraker's websocket at {url} did not open within {OPEN_TIMEOUT:?}")]
    Timeout { url: String },
    #[error("the API key cannot be sent in a header")]
    Key,
    #[error("Moonraker closed its websocket")]
    Closed,
}

pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    url: String,
}

impl Socket {
    /// Opens the websocket of the Moonraker at `base`.
    pub async fn open(
        base: &url::Url,
        key: Option<&Secret>,
        tls: Arc<ClientConfig>,
    ) -> Result<Socket, SocketError> {
        let mut url = base.clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Only http(s) URLs reach the driver, and both have ws counterparts.
        let _ = url.set_scheme(scheme);
        let path = format!("{}/websocket", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let url = url.to_string();
        let socket_err = |source| SocketError::Socket {
            url: url.clone(),
            source: Box::new(source),
        };
        let mut request = url.as_str().into_client_request().map_err(socket_err)?;
        if let Some(key) = key {
            let value = HeaderValue::from_str(key.expose()).map_err(|_| SocketError::Key)?;
            request.headers_mut().insert("X-Api-Key", value);
        }
        // The connector is used only for wss://; ws:// stays plain.
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            false,
            Some(Connector::Rustls(tls)),
        );
        let (stream, _) = tokio::time::timeout(OPEN_TIMEOUT, connect)
            .await
            .map_err(|_| SocketError::Timeout { url: url.clone() })?
            .map_err(socket_err)?;
        Ok(Socket { stream, url })
    }

    pub async fn send(&mut self, text: String) -> Result<(), SocketError> {
        let sent = self.stream.send(Message::text(text)).await;
        sent.map_err(|source| self.error(source))
    }

    /// A ping, so that a Moonraker gone silent (its host off the network) shows as a
    /// socket that answers nothing.
    pub async fn ping(&mut self) -> Result<(), SocketError> {
        let sent = self.stream.send(Message::Ping(Default::default())).await;
        sent.map_err(|source| self.error(source))
    }

    /// The next frame: `Some(text)` for a text frame, `None` for a control frame (proof of
    /// life; pings are answered by the socket itself on the next read).
    pub async fn next(&mut self) -> Result<Option<String>, SocketError> {
        let frame = self.stream.next().await.ok_or(SocketError::Closed)?;
        match frame.map_err(|source| self.error(source))? {
            Message::Text(text) => Ok(Some(text.as_str().to_owned())),
            Message::Close(_) => Err(SocketError::Closed),
            _ => Ok(None),
        }
    }

    fn error(&self, source: tokio_tungstenite::tungstenite::Error) -> SocketError {
        SocketError::Socket {
            url: self.url.clone(),
            source: Box::new(source),
        }
    }
}
