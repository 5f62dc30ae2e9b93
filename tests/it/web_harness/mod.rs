//! Harness for the LAN API tests: a gateway started through `app::start` on 127.0.0.1:0 with
//! hand-driven printers, an HTTP client, and multipart bodies built byte by byte so that each
//! test can send exactly the shape a given client (curl in PrusaSlicer, Qt in Cura) sends.

use std::path::PathBuf;
use std::sync::Arc;

use fluxprint_gateway::app::{self, Running};
use fluxprint_gateway::config::{Config, Secret};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::common;

pub const KEY: &str = "test-key-0123456789abcdef";

pub struct Lan {
    pub running: Running,
    /// The other ends of the printers' drivers.
    pub drivers: Arc<common::HandDrivers>,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: TempDir,
}

/// Starts a gateway with one printer (`mk3s`) after `tweak` adjusted its config.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> Lan {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        dir.path(),
        vec![common::printer("mk3s", [250.0, 210.0, 210.0], false)],
    );
    config.web.api_key = Some(Secret::new(KEY));
    tweak(&mut config);
    let drivers = Arc::new(common::HandDrivers::default());
    let running = app::start(config, drivers.clone(), CancellationToken::new())
        .await
        .expect("gateway starts");
    let base = format!("http://{}", running.web_addr());
    Lan {
        running,
        drivers,
        base,
        http: reqwest::Client::new(),
        dir,
    }
}

impl Lan {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn files_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// The names in the files directory.
    pub fn stored_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.files_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Rows in the store's files table.
    pub async fn file_records(&self) -> i64 {
        common::stored::file_rows(&self.running).await
    }

    pub async fn job_count(&self) -> usize {
        let page = self.get_json("/api/jobs?limit=100").await;
        page["jobs"].as_array().unwrap().len()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self
            .http
            .get(self.url(path))
            .header("X-Api-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn post_key(&self, path: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("X-Api-Key", KEY)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with a multipart body and the key in `X-Api-Key`.
    pub async fn upload(&self, path: &str, form: Form) -> reqwest::Response {
        let (content_type, body) = form.finish();
        self.http
            .post(self.url(path))
            .header("X-Api-Key", KEY)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// The status and the API error code of a JSON error response.
pub async fn error_of(response: reqwest::Response) -> (u16, String, String, HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_owned();
    (status, code, message, headers)
}

/// A multipart/form-data body, written out the way the clients under test write theirs.
pub struct Form {
    boundary: String,
    quoted_boundary: bool,
    body: Vec<u8>,
}

impl Form {
    /// curl's style (PrusaSlicer, OrcaSlicer): dashes and hex, unquoted in the header.
    pub fn curl() -> Form {
        Form {
            boundary: "------------------------d74496d66958873e".into(),
            quoted_boundary: false,
            body: Vec::new(),
        }
    }

    /// Qt's `QHttpMultiPart` style (Cura): `boundary_.oOo._…`, quoted in the header.
    pub fn qt() -> Form {
        Form {
            boundary: "boundary_.oOo._MTU2NzM0OTM0Mg==MTA2NjE5NTQ5NA==".into(),
            quoted_boundary: true,
            body: Vec::new(),
        }
    }

    fn part_start(&mut self, disposition: &str) {
        self.body
            .extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
        self.body
            .extend_from_slice(format!("Content-Disposition: {disposition}\r\n").as_bytes());
    }

    pub fn text(mut self, name: &str, value: &str) -> Form {
        self.part_start(&format!("form-data; name=\"{name}\""));
        self.body
            .extend_from_slice(format!("\r\n{value}\r\n").as_bytes());
        self
    }

    /// A `file` part; `content_type: None` writes none (as Qt does).
    pub fn file(mut self, file_name: &str, content_type: Option<&str>, data: &[u8]) -> Form {
        self.part_start(&format!(
            "form-data; name=\"file\"; filename=\"{file_name}\""
        ));
        if let Some(content_type) = content_type {
            self.body
                .extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        self.body.extend_from_slice(b"\r\n");
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// The Content-Type header value and the body.
    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        let boundary = if self.quoted_boundary {
            format!("\"{}\"", self.boundary)
        } else {
            self.boundary.clone()
        };
        (
            format!("multipart/form-data; boundary={boundary}"),
            self.body,
        )
    }
}

/// A small G-code file.
pub fn gcode(lines: usize) -> Vec<u8> {
    let mut text = String::from("; generated by PrusaSlicer 2.8.1\nM104 S215\nG28\n");
    for i in 0..lines {
        text.push_str(&format!("G1 X{} Y{} E0.5 F1800\n", i % 200, (i * 7) % 200));
    }
    text.into_bytes()
}

pub fn sha256_prefix(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))[..16].to_owned()
}
