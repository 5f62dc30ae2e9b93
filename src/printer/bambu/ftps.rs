//! A small implicit-FTPS client for the printer's file server (port 990): TLS from the first
//! byte on the control connection, passive mode, and TLS on every data connection resuming
//! the control connection's session, which the printers (like vsftpd's `require_ssl_reuse`)
//! demand. rustls resumes by itself when both connections share one `ClientConfig` and the
//! same server name: the control connection's tickets (TLS 1.3) or session id (TLS 1.2)
//! are in the config's session store when the data connection starts.
//!
//! Only what the driver needs: log in as `bblp`, store a file, delete a file, quit. Each
//! connection, handshake and reply must come within a patience (30 s for the printers): a
//! server that stops answering fails the step that waited, not the whole upload ten minutes on.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::Secret;

/// Copy buffer for uploads: large enough that TLS records are full.
const UPLOAD_BUFFER: usize = 256 * 1024;
/// A reply line longer than this is not FTP.
const MAX_REPLY_LINE: usize = 4096;
/// How long a connection, a handshake or a reply may take.
pub const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum FtpsError {
    #[error("cannot connect to the printer's FTPS server: {0}")]
    Connect(#[source] std::io::Error),
    #[error("TLS with the printer's FTPS server failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("the printer's FTPS server rejected the access code")]
    Login,
    #[error("the printer's FTPS server refused {step}: {code} {text}")]
    Refused {
        step: &'static str,
        code: u16,
        text: String,
    },
    #[error("the printer's FTPS server did not answer {step} within {} s", after.as_secs_f32())]
    Silent { step: String, after: Duration },
    #[error("the printer's FTPS server broke the protocol: {0}")]
    Protocol(String),
    #[error("FTPS transfer failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One logged-in control connection.
pub struct Ftps {
    control: BufReader<TlsStream<TcpStream>>,
    connector: TlsConnector,
    name: ServerName<'static>,
    host: String,
    patience: Duration,
}

impl Ftps {
    /// Connects to `host:port` (implicit TLS), logs in and sets up private binary transfers;
    /// each step within `patience`.
    pub async fn connect(
        (host, port): (&str, u16),
        tls: Arc<ClientConfig>,
        name: ServerName<'static>,
        access_code: &Secret,
        patience: Duration,
    ) -> Result<Ftps, FtpsError> {
        let tcp = within(patience, "the connection", TcpStream::connect((host, port)))
            .await?
            .map_err(FtpsError::Connect)?;
        tcp.set_nodelay(true).map_err(FtpsError::Connect)?;
        let connector = TlsConnector::from(tls);
        let handshake = connector.connect(name.clone(), tcp);
        let stream = within(patience, "the TLS handshake", handshake)
            .await?
            .map_err(FtpsError::Tls)?;
        let mut ftps = Ftps {
            control: BufReader::new(stream),
            connector,
            name,
            host: host.to_owned(),
            patience,
        };
        ftps.expect("the greeting", None, 220).await?;
        let (code, text) = ftps.command("USER bblp").await?;
        if code == 331 {
            let (code, _) = ftps
                .command(&format!("PASS {}", access_code.expose()))
                .await?;
            if code == 530 {
                return Err(FtpsError::Login);
            }
            check("the login", code, 230, String::new())?;
        } else {
            check("the user name", code, 230, text)?;
        }
        ftps.expect("PBSZ", Some("PBSZ 0"), 200).await?;
        ftps.expect("PROT", Some("PROT P"), 200).await?;
        ftps.expect("binary mode", Some("TYPE I"), 200).await?;
        Ok(ftps)
    }

    /// Stores the local file `from` as `name` in the printer's root folder; its size.
    pub async fn store(&mut self, from: &Path, name: &str) -> Result<u64, FtpsError> {
        let file = tokio::fs::File::open(from).await?;
        let data = self.passive().await?;
        let (code, text) = self.command(&format!("STOR {name}")).await?;
        if code != 150 && code != 125 {
            return Err(FtpsError::Refused {
                step: "the upload",
                code,
                text,
            });
        }
        let handshake = self.connector.connect(self.name.clone(), data);
        let mut data = within(
            self.patience,
            "the data connection's TLS handshake",
            handshake,
        )
        .await?
        .map_err(FtpsError::Tls)?;
        let mut reader = BufReader::with_capacity(UPLOAD_BUFFER, file);
        let sent = tokio::io::copy_buf(&mut reader, &mut data).await?;
        // close_notify, then FIN: the server takes the file as complete only then.
        data.shutdown().await?;
        // Then read to the server's end before closing: closing a socket with unread bytes
        // in it (the server's session tickets) sends a reset, which can overtake the end
        // of the file in the server's buffer ("426 Failure reading network stream").
        let mut rest = [0u8; 4096];
        while matches!(data.read(&mut rest).await, Ok(n) if n > 0) {}
        drop(data);
        self.expect("the upload's end", None, 226).await?;
        Ok(sent)
    }

    /// Deletes `name` from the printer's root folder.
    pub async fn delete(&mut self, name: &str) -> Result<(), FtpsError> {
        self.expect("the delete", Some(&format!("DELE {name}")), 250)
            .await
    }

    /// Says goodbye (the server logs a clean end).
    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
        let _ = self.control.get_mut().shutdown().await;
    }

    /// Opens the passive data connection, to the control connection's host whatever
    /// address the reply names (a printer behind NAT names its inside address).
    async fn passive(&mut self) -> Result<TcpStream, FtpsError> {
        let (code, text) = self.command("PASV").await?;
        check("passive mode", code, 227, text.clone())?;
        let port = pasv_port(&text).ok_or_else(|| FtpsError::Protocol(text.clone()))?;
        let connect = TcpStream::connect((self.host.as_str(), port));
        let tcp = within(self.patience, "the data connection", connect)
            .await?
            .map_err(FtpsError::Connect)?;
        tcp.set_nodelay(true).map_err(FtpsError::Connect)?;
        Ok(tcp)
    }

    async fn expect(
        &mut self,
        step: &'static str,
        line: Option<&str>,
        wanted: u16,
    ) -> Result<(), FtpsError> {
        let (code, text) = match line {
            Some(line) => self.command(line).await?,
            None => within(self.patience, step, self.reply()).await??,
        };
        check(step, code, wanted, text)
    }

    async fn command(&mut self, line: &str) -> Result<(u16, String), FtpsError> {
        let stream = self.control.get_mut();
        stream.write_all(format!("{line}\r\n").as_bytes()).await?;
        stream.flush().await?;
        // The verb only: a PASS line holds the access code.
        let verb = line.split(' ').next().unwrap_or(line);
        let patience = self.patience;
        within(patience, verb, self.reply()).await?
    }

    /// One reply, multi-line ones (`123-…` up to `123 …`) read to their end.
    async fn reply(&mut self) -> Result<(u16, String), FtpsError> {
        let mut first: Option<u16> = None;
        loop {
            let mut line = String::new();
            let read = (&mut self.control)
                .take(MAX_REPLY_LINE as u64)
                .read_line(&mut line)
                .await?;
            if read == 0 {
                return Err(FtpsError::Protocol(
                    "the server closed the connection".into(),
                ));
            }
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| FtpsError::Protocol(line.trim_end().to_owned()))?;
            let code = *first.get_or_insert(code);
            if line.get(..3) == Some(&code.to_string()) && line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, line.get(4..).unwrap_or("").trim_end().to_owned()));
            }
        }
    }
}

/// `work`, or [`FtpsError::Silent`] naming `step` when it takes longer than `patience`.
async fn within<T>(
    patience: Duration,
    step: &str,
    work: impl Future<Output = T>,
) -> Result<T, FtpsError> {
    tokio::time::timeout(patience, work)
        .await
        .map_err(|_| FtpsError::Silent {
            step: step.to_owned(),
            after: patience,
        })
}

fn check(step: &'static str, code: u16, wanted: u16, text: String) -> Result<(), FtpsError> {
    if code == wanted {
        Ok(())
    } else {
        Err(FtpsError::Refused { step, code, text })
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_port(text: &str) -> Option<u16> {
    let inside = text.split_once('(')?.1.split_once(')')?.0;
    let numbers: Vec<u16> = inside
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    match numbers[..] {
        [_, _, _, _, high, low] if high < 256 && low < 256 => Some(high * 256 + low),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passive_port_is_read_from_the_reply() {
        assert_eq!(
            pasv_port("Entering Passive Mode (127,0,0,1,156,64)."),
            Some(156 * 256 + 64)
        );
        assert_eq!(pasv_port("Entering Passive Mode (127,0,0,1,300,64)"), None);
        assert_eq!(pasv_port("nothing"), None);
    }

    /// A server that takes the connection and never says a word: the handshake step fails
    /// after the patience, naming itself, instead of hanging the upload.
    #[tokio::test]
    async fn a_silent_server_fails_the_step_that_waited() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = ServerName::try_from("01P00A000000001").unwrap();
        let code = Secret::new("12345678");
        let patience = Duration::from_millis(200);
        let connected =
            Ftps::connect(("127.0.0.1", port), Arc::new(tls), name, &code, patience).await;
        let error = connected
            .err()
            .expect("no FTPS session with a silent server");
        assert!(
            matches!(&error, FtpsError::Silent { step, .. } if step == "the TLS handshake"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the printer's FTPS server did not answer the TLS handshake within 0.2 s"
        );
        silent.abort();
    }
}
