//! Moonraker's HTTP API as the driver uses it, with `X-Api-Key` when a key is configured:
//! `server/info` (reachable, key accepted), the upload of a job's file into the gateway's
//! folder under `gcodes` with its SHA-256 for Moonraker to verify, and the driver's
//! [`Call`]s on their HTTP routes, for when the websocket cannot be used.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use rustls::ClientConfig;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::rpc::{Call, HISTORY_LIMIT, OBJECTS, RpcError};
use crate::config::Secret;
use crate::printer::host_tls::TrustError;
use crate::printer::safety::CheckedFile;

/// Longest Moonraker message kept in an error.
const MESSAGE_LIMIT: usize = 300;
/// A call answers in milliseconds; a macro behind one (`PAUSE`, `CANCEL_PRINT`) may move
/// the toolhead for a while.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// A 100 MB file over a slow Wi-Fi link.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach Moonraker: {source}")]
    Unreachable {
        #[source]
        source: reqwest::Error,
    },
    #[error("Moonraker rejected the API key (401)")]
    Unauthorized,
    #[error("Moonraker asks for an API key (401): set the printer's api_key")]
    KeyNeeded,
    #[error("Moonraker refused to {what} ({status}): {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("Moonraker's answer to {what} is not what the driver expects")]
    Answer { what: &'static str },
    #[error("cannot read the job's file {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {source}")]
    Client {
        #[source]
        source: reqwest::Error,
    },
    #[error("Moonraker's TLS settings: {source}")]
    Trust {
        #[from]
        source: TrustError,
    },
}

/// A client for one Moonraker; cheap to clone (the upload runs on a clone).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: url::Url,
    key: Option<Secret>,
}

impl Http {
    /// A client for Moonraker at `base`; `tls` is used for `https://` (and shared with the
    /// websocket).
    pub fn new(
        base: url::Url,
        key: Option<Secret>,
        tls: Arc<ClientConfig>,
    ) -> Result<Http, HttpError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(ClientConfig::clone(&tls))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| HttpError::Client { source })?;
        Ok(Http { client, base, key })
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut url = self.base.clone();
        let joined = format!("{}/{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        let request = self.client.request(method, url);
        match &self.key {
            Some(key) => request.header("X-Api-Key", key.expose()),
            None => request,
        }
    }

    /// Sends; a 401 is the key (or its absence), any other refusal says what was refused
    /// and why.
    async fn send(
        &self,
        what: &'static str,
        request: RequestBuilder,
    ) -> Result<Response, HttpError> {
        let response = request
            .send()
            .await
            .map_err(|source| HttpError::Unreachable { source })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(match self.key {
                Some(_) => HttpError::Unauthorized,
                None => HttpError::KeyNeeded,
            });
        }
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(HttpError::Refused {
            what,
            status: status.as_u16(),
            message: message_of(status, &text),
        })
    }

    /// `GET /server/info`: Moonraker's version; reachable and the key accepted.
    pub async fn server_info(&self) -> Result<String, HttpError> {
        let what = "tell its version";
        let request = self
            .request(Method::GET, "server/info")
            .timeout(CALL_TIMEOUT);
        let info: Value = self
            .send(what, request)
            .await?
            .json()
            .await
            .map_err(|_| HttpError::Answer { what })?;
        let version = info["result"]["moonraker_version"].as_str();
        Ok(version.unwrap_or("unknown").to_owned())
    }

    /// `call` on its HTTP route. The outer `Err` is the link (the session ends); the inner
    /// one is Moonraker's answer, as the websocket would give it.
    pub async fn call(&self, call: &Call) -> Result<Result<Value, RpcError>, HttpError> {
        let Some(Route {
            method,
            path,
            query,
        }) = route(call)
        else {
            let message = format!("{} needs the websocket", call.method());
            return Ok(Err(RpcError { code: 0, message }));
        };
        let request = self
            .request(method, &path)
            .query(&query)
            .timeout(CALL_TIMEOUT);
        let what = "answer a request";
        match self.send(what, request).await {
            Ok(response) => {
                let mut body: Value = response
                    .json()
                    .await
                    .map_err(|_| HttpError::Answer { what })?;
                Ok(Ok(body["result"].take()))
            }
            Err(HttpError::Refused {
                status, message, ..
            }) => Ok(Err(RpcError {
                code: i64::from(status),
                message,
            })),
            Err(e) => Err(e),
        }
    }

    /// Uploads `file` as `folder/name` under `gcodes` (Moonraker creates the folder),
    /// streamed, never whole in memory. Only the `checked.size` bytes the safety check read
    /// are sent, with their SHA-256: Moonraker refuses the file (422) unless it received
    /// exactly the bytes that were checked.
    pub async fn upload(
        &self,
        file: &Path,
        folder: &str,
        name: &str,
        checked: CheckedFile,
    ) -> Result<(), HttpError> {
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|source| HttpError::File {
                path: file.display().to_string(),
                source,
            })?;
        let boundary = format!("fluxprint-{:016x}", rand::random::<u64>());
        let field = |name: &str, value: &str| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
        };
        let head = format!(
            "{}{}{}--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            field("root", "gcodes"),
            field("path", folder),
            field("checksum", &hex::encode(checked.sha256)),
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let length = head.len() as u64 + checked.size + tail.len() as u64;
        let content = tokio_util::io::ReaderStream::new(opened.take(checked.size));
        let body = futures_util::stream::once(async move { Ok(bytes_of(head)) })
            .chain(content)
            .chain(futures_util::stream::once(
                async move { Ok(bytes_of(tail)) },
            ));
        let request = self
            .request(Method::POST, "server/files/upload")
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Content-Length", length)
            .timeout(UPLOAD_TIMEOUT)
            .body(reqwest::Body::wrap_stream(body));
        self.send("take the job's file", request).await.map(drop)
    }
}

fn bytes_of(text: String) -> bytes::Bytes {
    bytes::Bytes::from(text.into_bytes())
}

/// Where a call goes over HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
}

/// The HTTP route of `call`; `None` for websocket-only calls.
pub fn route(call: &Call) -> Option<Route> {
    let to = |method: Method, path: &str, query: &[(&str, &str)]| {
        Some(Route {
            method,
            path: path.to_owned(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    };
    match call {
        Call::Identify { .. } | Call::Subscribe => None,
        Call::PrinterInfo => to(Method::GET, "printer/info", &[]),
        Call::Query => {
            let fields: Vec<(&str, String)> = OBJECTS
                .iter()
                .map(|(name, fields)| (*name, fields.join(",")))
                .collect();
            let query: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            to(Method::GET, "printer/objects/query", &query)
        }
        Call::Start { filename } => to(
            Method::POST,
            "printer/print/start",
            &[("filename", filename)],
        ),
        Call::Pause => to(Method::POST, "printer/print/pause", &[]),
        Call::Resume => to(Method::POST, "printer/print/resume", &[]),
        Call::Cancel => to(Method::POST, "printer/print/cancel", &[]),
        Call::EmergencyStop => to(Method::POST, "printer/emergency_stop", &[]),
        Call::Script { script } => to(Method::POST, "printer/gcode/script", &[("script", script)]),
        Call::History => {
            let limit = HISTORY_LIMIT.to_string();
            let query = [("limit", limit.as_str()), ("order", "desc")];
            to(Method::GET, "server/history/list", &query)
        }
        Call::Delete { filename } => to(
            Method::DELETE,
            &format!("server/files/gcodes/{filename}"),
            &[],
        ),
    }
}

/// Moonraker's reason from an error body (`{"error": {"message", "traceback"}}`). Tornado
/// puts some reasons only in the traceback's last line, `HTTPError: HTTP 422: Unprocessable
/// Entity (File checksum mismatch: …)`, leaving the bare status text as the message.
fn message_of(status: StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let message = error.and_then(|e| e["message"].as_str()).map(str::trim);
    let bare = message.is_none_or(|m| Some(m) == status.canonical_reason());
    let detail = error
        .and_then(|e| e["traceback"].as_str())
        .filter(|_| bare)
        .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()))
        .and_then(|line| {
            let line = line.trim().strip_suffix(')')?;
            Some(&line[line.find(" (")? + 2..])
        });
    let text = detail.or(message).unwrap_or(body).trim();
    let text = if text.is_empty() { "no details" } else { text };
    text.chars().take(MESSAGE_LIMIT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_map_to_moonrakers_http_routes() {
        let start = Call::Start {
            filename: "fluxprint/job-7.gcode".into(),
        };
        let Route {
            method,
            path,
            query,
        } = route(&start).unwrap();
        assert_eq!(
            (method, path.as_str()),
            (Method::POST, "printer/print/start")
        );
        assert_eq!(
            query,
            vec![("filename".into(), "fluxprint/job-7.gcode".into())]
        );
        let query = route(&Call::Query).unwrap();
        assert_eq!(query.path, "printer/objects/query");
        assert!(
            query
                .query
                .contains(&("virtual_sdcard".into(), "progress".into()))
        );
        let extruder = ("extruder".into(), "temperature,target".into());
        assert!(query.query.contains(&extruder));
        let delete = Call::Delete {
            filename: "fluxprint/job-7.gcode".into(),
        };
        let deleted = route(&delete).unwrap();
        assert_eq!(
            (deleted.method, deleted.path.as_str()),
            (Method::DELETE, "server/files/gcodes/fluxprint/job-7.gcode")
        );
        assert_eq!(route(&Call::Subscribe), None);
    }

    #[test]
    fn an_error_message_hidden_in_tornados_traceback_is_found() {
        let body = r#"{"error": {"code": 422, "message": "Unprocessable Entity",
            "traceback": "Traceback (most recent call last):\n  File \"x.py\"\n\ntornado.web.HTTPError: HTTP 422: Unprocessable Entity (File checksum mismatch: expected 00, calculated d0)\n"}}"#;
        assert_eq!(
            message_of(StatusCode::UNPROCESSABLE_ENTITY, body),
            "File checksum mismatch: expected 00, calculated d0"
        );
        let plain =
            r#"{"error": {"code": 400, "message": "Unable to open file", "traceback": "…"}}"#;
        assert_eq!(
            message_of(StatusCode::BAD_REQUEST, plain),
            "Unable to open file"
        );
        assert_eq!(message_of(StatusCode::BAD_GATEWAY, ""), "no details");
    }
}
