//! The LAN API against its own OpenAPI document: Schemathesis (PyPI, installed into `.venv`
//! from requirements-test.txt by scripts/test) generates requests from `/api/openapi.json`,
//! valid and invalid ones, and checks every answer with all its checks: no server error, every
//! status, content type, header and body as documented, valid data accepted, invalid data
//! refused. It runs against a live gateway with a simulated printer, so the links (upload →
//! cancel, pause, resume, move; status → bed cleared) reach a printer that really prints.
//!
//! The run is bounded (examples per operation, a per-request timeout, a deadline for the whole
//! process) and seeded, so it asks the same questions every time. `GET /api/ws` is left out:
//! a WebSocket handshake answers 101 and hands the connection over to another protocol, which
//! Schemathesis's HTTP client neither speaks nor expects; a test below checks its documented
//! refusal, and `web_live` its feed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::sim::SimDrivers;
use crate::web_harness::Form;
use crate::{common, web_harness};
use fluxprint_gateway::app;
use fluxprint_gateway::config::{DriverConfig, Secret};
use fluxprint_gateway::printer::sim::SimConfig;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

const KEY: &str = "schemathesis-key-0123456789abcdef";
/// Cases per operation and phase; with the coverage and stateful phases this comes to about
/// 1,500 requests.
const MAX_EXAMPLES: &str = "40";
const SEED: &str = "20240513";
/// A request that takes longer is a failure (the slowest are uploads, a few ms each).
const REQUEST_TIMEOUT_S: &str = "10";
/// The whole run, generation and shrinking included; it takes about a minute on a loaded
/// 2-core machine.
const DEADLINE: Duration = Duration::from_secs(240);
const INSTALL_HELP: &str = "Schemathesis is not installed: run scripts/test (it installs \
    requirements-test.txt into .venv), or `python3 -m venv .venv && .venv/bin/pip install -r \
    requirements-test.txt`";

/// What Schemathesis is told beyond the document. Upload parts are `format: binary` with a
/// `pattern` saying G-code is printable text; Schemathesis fills binary parts with arbitrary
/// bytes (a PNG, say) and applies no pattern to them, so the file it sends is drawn here from
/// the text the pattern allows. The part's name comes from the document's Content-Disposition
/// example (`part.gcode`). Since that file is always G-code, an upload carrying a Bambu
/// print option (documented 422 `invalid_options`: options apply to a sliced project only, a
/// rule across parts that JSON Schema cannot state) is not drawn as valid data;
/// `bambu::options` tests those fields.
const HOOKS: &str = r#"
import schemathesis
from hypothesis import strategies as st

_CONTROL = "".join(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 127])
_LINES = st.sampled_from(["G28", "G90", "M83", "M104 S215", "G1 X10 Y10 E0.5 F1800", "; layer 1"])
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=_CONTROL), min_size=1)
schemathesis.openapi.format("binary", st.one_of(st.lists(_LINES, min_size=1).map("\n".join), _TEXT))

_OPTIONS = ("plate", "use_ams", "ams_mapping", "timelapse", "bed_levelling")

@schemathesis.hook
def filter_body(context, body):
    operation = context.operation
    if operation is None or operation.path != "/api/jobs" or not isinstance(body, dict):
        return True
    return not any(str(body.get(name) or "").strip() for name in _OPTIONS)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lan_api_answers_exactly_as_its_openapi_document_says() {
    let schemathesis = schemathesis_executable();
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut printer = common::printer("sim-mk3s", [250.0, 210.0, 210.0], false);
    printer.driver = DriverConfig::Simulated(SimConfig {
        // Jobs finish within the run, so bed-cleared and the next job happen too.
        speed_up: 1000.0,
        record_commands: false,
        ..SimConfig::default()
    });
    let mut config = common::config(dir.path(), vec![printer]);
    config.web.api_key = Some(Secret::new(KEY));
    // Every control and upload request must reach its route, not the limiter.
    config.web.rate_limit_per_minute = 1_000_000;
    let sims = SimDrivers::new(dir.path());
    // The test keeps the simulated device: dropping it would unplug the printer.
    let running = app::start(config, Arc::new(sims.clone()), CancellationToken::new())
        .await
        .expect("gateway starts");
    // File 1 has a thumbnail: the lowest id the document allows is one Schemathesis tries, so
    // the image and its headers are checked too, not only the 404.
    let base = format!("http://{}", running.web_addr());
    upload_a_file_with_a_thumbnail(&base).await;
    let hooks = dir.path().join("schemathesis_hooks.py");
    std::fs::write(&hooks, HOOKS).unwrap();

    let url = format!("{base}/api/openapi.json");
    let started = Instant::now();
    let (passed, report) = run(&schemathesis, &url, &hooks, dir.path()).await;
    assert!(
        passed,
        "Schemathesis found the LAN API and docs/openapi.json disagreeing:\n{report}"
    );
    // Shown with --nocapture: what was covered.
    println!("{report}");
    println!(
        "schemathesis: {} in {:.0?}",
        summary(&report),
        started.elapsed()
    );
    running.stop().await;
}

/// The route the run leaves out: a plain GET (no handshake) gets the documented 400 in the
/// API's error shape, not axum's plain text.
#[tokio::test]
async fn the_websocket_route_refuses_a_request_without_a_handshake_as_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(fluxprint_gateway::web::api::OPENAPI).unwrap();
    let documented = &doc["paths"]["/api/ws"]["get"]["responses"]["400"];
    let codes = &documented["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
        ["properties"]["code"]["enum"];
    assert_eq!(codes, &serde_json::json!(["bad_request"]), "{documented}");
    let lan = web_harness::start(|_| {}).await;
    let response = lan
        .http
        .get(lan.url("/api/ws"))
        .header("X-Api-Key", web_harness::KEY)
        .send()
        .await
        .unwrap();
    let (status, code, message, headers) = web_harness::error_of(response).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"), "{message}");
    assert_eq!(headers["content-type"], "application/json");
    assert!(message.contains("upgrade"), "{message}");
    lan.stop().await;
}

async fn upload_a_file_with_a_thumbnail(base: &str) {
    let gcode = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode/thumb.gcode");
    let form = Form::curl().file("thumb.gcode", None, &std::fs::read(gcode).unwrap());
    let (content_type, body) = form.finish();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/jobs"))
        .header("X-Api-Key", KEY)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "uploading thumb.gcode");
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["thumbnail"], "/api/files/1/thumbnail");
}

/// Runs Schemathesis to the end (or the deadline); whether it passed, and its report.
async fn run(schemathesis: &Path, url: &str, hooks: &Path, dir: &Path) -> (bool, String) {
    let mut command = Command::new(schemathesis);
    command
        .arg("run")
        .arg(url)
        .args(["--checks", "all"])
        .args(["--exclude-path", "/api/ws"])
        .args(["--header", &format!("X-Api-Key: {KEY}")])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--request-timeout", REQUEST_TIMEOUT_S])
        .args(["--workers", "1"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        .env("SCHEMATHESIS_HOOKS", hooks)
        // No `.hypothesis` or report directories in the source tree.
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().expect("start schemathesis");
    match tokio::time::timeout(DEADLINE, child.wait_with_output()).await {
        Ok(output) => {
            let output = output.expect("schemathesis runs");
            let report = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status.success(), report)
        }
        Err(_) => (
            false,
            format!("schemathesis did not finish within {DEADLINE:?} (killed)"),
        ),
    }
}

/// The report's line counting the generated test cases.
fn summary(report: &str) -> &str {
    report
        .lines()
        .find(|line| line.contains(" generated, "))
        .map_or("no summary", str::trim)
}

/// `schemathesis` on PATH (scripts/test puts `.venv/bin` first), else in this repo's `.venv`.
fn schemathesis_executable() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("schemathesis"))
        .find(|candidate| candidate.is_file());
    let in_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/schemathesis");
    let executable = on_path
        .or_else(|| in_venv.is_file().then_some(in_venv))
        .unwrap_or_else(|| panic!("{INSTALL_HELP}"));
    let version = std::process::Command::new(&executable)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} does not run ({e}); {INSTALL_HELP}",
                executable.display()
            )
        });
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains("version 4."),
        "this test speaks the Schemathesis 4 CLI, found {version:?}; {INSTALL_HELP}"
    );
    executable
}
