//! Headless Chromium for page tests: Debian's `chromedriver` on a free port, a fresh browser
//! profile, and a fantoccini client. A missing browser fails the test with the command that
//! installs it; a page test never skips itself.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use super::PATIENCE;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL: &str =
    "apt-get install chromium chromium-driver (or run scripts/test, which installs them)";

/// How long the browser may take to show what a test waits for on the page.
pub const PAGE_PATIENCE: Duration = Duration::from_secs(60);

/// A running chromedriver with one browser session. Call [`Browser::close`] at the end; if
/// the test panics first, dropping it kills chromedriver and the browser it started.
pub struct Browser {
    pub client: Client,
    driver: Child,
    closed: bool,
    _profile: tempfile::TempDir,
}

fn require(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the page tests need Chromium and its driver: {INSTALL}"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Starts chromedriver in its own process group and waits for its "started" line.
async fn start_driver(port: u16) -> Child {
    let mut driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER}: {e}; {INSTALL}"));
    let stdout = driver.stdout.take().expect("piped stdout");
    let (ready, started) = tokio::sync::oneshot::channel();
    // Reads to the end so chromedriver never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut ready = Some(ready);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("started successfully")
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
    match tokio::time::timeout(PATIENCE, started).await {
        Ok(Ok(())) => driver,
        Ok(Err(_)) => panic!("chromedriver exited before it started: {:?}", driver.wait()),
        Err(_) => panic!("chromedriver did not start within {PATIENCE:?}"),
    }
}

fn capabilities(profile: &Path) -> serde_json::Map<String, serde_json::Value> {
    let options = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    caps
}

impl Browser {
    pub async fn start() -> Browser {
        require(CHROMIUM);
        require(CHROMEDRIVER);
        let port = free_port();
        let driver = start_driver(port).await;
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(profile.path()))
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromedriver refused a Chromium session: {e}; {INSTALL}"));
        Browser {
            client,
            driver,
            closed: false,
            _profile: profile,
        }
    }

    /// Ends the session (chromedriver closes Chromium), then chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        client.close().await.expect("close the browser session");
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        self.closed = true;
    }

    /// Runs `script` (a function body returning a string or null) until it returns a string.
    pub async fn wait_for_text(&self, what: &str, script: &str) -> String {
        let deadline = tokio::time::Instant::now() + PAGE_PATIENCE;
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or_else(|e| panic!("checking {what}: {e}"));
            if let Some(text) = value.as_str() {
                return text.to_owned();
            }
            if tokio::time::Instant::now() >= deadline {
                let page = self
                    .client
                    .execute("return document.body.innerText;", vec![])
                    .await;
                panic!(
                    "the page never showed {what} within {PAGE_PATIENCE:?}; it shows:\n{page:?}"
                );
            }
            // The page changes on its own (WebSocket messages); this only paces the polling.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // A test that panicked: end chromedriver and the Chromium processes it started (they
        // share its process group, whose id stays ours until chromedriver is reaped below).
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
