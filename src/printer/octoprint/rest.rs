//! OctoPrint's REST API as the driver uses it, every call authenticated with `X-Api-Key`:
//! version, printer state and temperatures, upload of a job's file into the gateway's own
//! folder, select-and-print, pause/resume/cancel, the print record of a file, deletion, and
//! the passive login that opens the push channel.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use rustls::ClientConfig;
use serde_json::{Value, json};

use super::state::OctoState;
use super::track::Snapshot;
use crate::config::Secret;
use crate::domain::{Temperature, Temperatures};
use crate::printer::host_tls::TrustError;

/// Longest OctoPrint message kept in an error.
const MESSAGE_LIMIT: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("cannot reach OctoPrint: {source}")]
    Unreachable {
        #[source]
        source: reqwest::Error,
    },
    #[error("OctoPrint rejected the API key (403)")]
    Unauthorized,
    #[error("OctoPrint refused to {what} ({status}): {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("OctoPrint's answer to {what} is not what the driver expects")]
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
    #[error("OctoPrint's TLS settings: {source}")]
    Trust {
        #[from]
        source: TrustError,
    },
}

/// A client for one OctoPrint server.
#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: url::Url,
    key: Secret,
    tls: Arc<ClientConfig>,
}

impl Rest {
    /// A client for OctoPrint at `base`; `tls` is used for `https://` (and shared with the
    /// push channel).
    pub fn new(base: url::Url, key: Secret, tls: Arc<ClientConfig>) -> Result<Rest, RestError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(ClientConfig::clone(&tls))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| RestError::Client { source })?;
        Ok(Rest {
            client,
            base,
            key,
            tls,
        })
    }

    /// The TLS settings the push channel uses too.
    pub fn tls(&self) -> Arc<ClientConfig> {
        self.tls.clone()
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut url = self.base.clone();
        let joined = format!("{}/{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        self.client
            .request(method, url)
            .header("X-Api-Key", self.key.expose())
    }

    /// Sends, and turns 403 and other refusals into errors that say what was refused.
    async fn send(
        &self,
        what: &'static str,
        request: RequestBuilder,
    ) -> Result<Response, RestError> {
        let response = request
            .send()
            .await
            .map_err(|source| RestError::Unreachable { source })?;
        let status = response.status();
        if status == StatusCode::FORBIDDEN {
            return Err(RestError::Unauthorized);
        }
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(RestError::Refused {
            what,
            status: status.as_u16(),
            message: message_of(&text),
        })
    }

    async fn json(&self, what: &'static str, request: RequestBuilder) -> Result<Value, RestError> {
        self.send(what, request)
            .await?
            .json()
            .await
            .map_err(|_| RestError::Answer { what })
    }

    /// `GET /api/version`: reachable and the key accepted.
    pub async fn version(&self) -> Result<String, RestError> {
        let v = self
            .json("tell its version", self.request(Method::GET, "api/version"))
            .await?;
        Ok(v["server"].as_str().unwrap_or("unknown").to_owned())
    }

    /// `GET /api/job` and `GET /api/printer`: state, selected file, progress, temperatures.
    pub async fn snapshot(&self) -> Result<Snapshot, RestError> {
        let job = self
            .json("tell its job", self.request(Method::GET, "api/job"))
            .await?;
        let mut snapshot = snapshot_of(&job, &job["state"]);
        snapshot.error = job["error"].as_str().map(str::to_owned);
        let printer = self
            .request(Method::GET, "api/printer")
            .query(&[("exclude", "sd")]);
        // 409: OctoPrint has no printer connected, so no temperatures either.
        match self.json("tell its printer's state", printer).await {
            Ok(p) => snapshot.temperatures = temperatures_of(&p["temperature"]),
            Err(RestError::Refused { status: 409, .. }) => {}
            Err(e) => return Err(e),
        }
        Ok(snapshot)
    }

    /// Uploads `file` as `folder/name` in OctoPrint's local storage (creating the folder),
    /// streamed, never whole in memory. Returns the file's path on OctoPrint.
    pub async fn upload(&self, file: &Path, folder: &str, name: &str) -> Result<String, RestError> {
        let file_err = |source| RestError::File {
            path: file.display().to_string(),
            source,
        };
        let opened = tokio::fs::File::open(file).await.map_err(file_err)?;
        let size = opened.metadata().await.map_err(file_err)?.len();
        let boundary = format!("fluxprint-{:016x}", rand::random::<u64>());
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n{folder}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let length = head.len() as u64 + size + tail.len() as u64;
        let body = futures_util::stream::once(async move { Ok(bytes_of(head)) })
            .chain(tokio_util::io::ReaderStream::new(opened))
            .chain(futures_util::stream::once(
                async move { Ok(bytes_of(tail)) },
            ));
        let request = self
            .request(Method::POST, "api/files/local")
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Content-Length", length)
            .body(reqwest::Body::wrap_stream(body));
        self.send("take the job's file", request).await?;
        Ok(format!("{folder}/{name}"))
    }

    /// Selects the uploaded file and starts printing it (409 when the printer is busy or
    /// not operational).
    pub async fn print(&self, path: &str) -> Result<(), RestError> {
        let request = self
            .request(Method::POST, &format!("api/files/local/{path}"))
            .json(&json!({"command": "select", "print": true}));
        self.send("start the print", request).await.map(drop)
    }

    pub async fn pause(&self) -> Result<(), RestError> {
        self.job_command(
            "pause the print",
            json!({"command": "pause", "action": "pause"}),
        )
        .await
    }

    pub async fn resume(&self) -> Result<(), RestError> {
        self.job_command(
            "resume the print",
            json!({"command": "pause", "action": "resume"}),
        )
        .await
    }

    pub async fn cancel(&self) -> Result<(), RestError> {
        self.job_command("cancel the print", json!({"command": "cancel"}))
            .await
    }

    /// `M112` through OctoPrint, sent at once (OctoPrint's emergency parser path).
    pub async fn emergency_stop(&self) -> Result<(), RestError> {
        let request = self
            .request(Method::POST, "api/printer/command")
            .json(&json!({"commands": ["M112"]}));
        self.send("stop the printer", request).await.map(drop)
    }

    async fn job_command(&self, what: &'static str, body: Value) -> Result<(), RestError> {
        let request = self.request(Method::POST, "api/job").json(&body);
        self.send(what, request).await.map(drop)
    }

    /// How the last print of `path` ended: `Some(true)` succeeded, `Some(false)` failed or
    /// was cancelled, `None` never ended (or the file is gone).
    pub async fn last_print(&self, path: &str) -> Result<Option<bool>, RestError> {
        let request = self.request(Method::GET, &format!("api/files/local/{path}"));
        match self.json("describe the job's file", request).await {
            Ok(file) => Ok(file["prints"]["last"]["success"].as_bool()),
            Err(RestError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, path: &str) -> Result<(), RestError> {
        let request = self.request(Method::DELETE, &format!("api/files/local/{path}"));
        self.send("delete the job's file", request).await.map(drop)
    }

    /// `POST /api/login {"passive": true}`: the user name and session for the push channel.
    pub async fn passive_login(&self) -> Result<(String, String), RestError> {
        let what = "open a session";
        let request = self
            .request(Method::POST, "api/login")
            .json(&json!({"passive": true}));
        let user = self.json(what, request).await?;
        match (user["name"].as_str(), user["session"].as_str()) {
            (Some(name), Some(session)) => Ok((name.to_owned(), session.to_owned())),
            _ => Err(RestError::Answer { what }),
        }
    }
}

fn bytes_of(text: String) -> axum::body::Bytes {
    axum::body::Bytes::from(text.into_bytes())
}

/// A snapshot from a `current` message or `/api/job` (`state` is the state text or object).
pub fn snapshot_of(message: &Value, state: &Value) -> Snapshot {
    let text = state
        .as_str()
        .or(state["text"].as_str())
        .unwrap_or("Offline");
    let error = state["error"].as_str().map(str::to_owned);
    let file = &message["job"]["file"];
    let local = file["origin"].as_str().is_none_or(|o| o == "local");
    Snapshot {
        state: OctoState::parse(text),
        error,
        file: file["path"].as_str().filter(|_| local).map(str::to_owned),
        completion: message["progress"]["completion"].as_f64(),
        temperatures: None,
    }
}

/// Temperatures from `{"tool0": {"actual", "target"}, "bed": {…}}`.
pub fn temperatures_of(value: &Value) -> Option<Temperatures> {
    let heater = |v: &Value| {
        Some(Temperature {
            actual_c: v["actual"].as_f64()?,
            target_c: v["target"].as_f64().filter(|t| *t > 0.0),
        })
    };
    let map = value.as_object()?;
    let mut tools: Vec<(&String, Temperature)> = map
        .iter()
        .filter(|(name, _)| name.starts_with("tool"))
        .filter_map(|(name, v)| Some((name, heater(v)?)))
        .collect();
    tools.sort_by(|a, b| a.0.cmp(b.0));
    Some(Temperatures {
        hotends: tools.into_iter().map(|(_, t)| t).collect(),
        bed: value.get("bed").and_then(heater),
    })
}

fn message_of(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v["error"].as_str())
        .unwrap_or(body)
        .trim();
    let text = if text.is_empty() { "no details" } else { text };
    text.chars().take(MESSAGE_LIMIT).collect()
}
