//! The OctoPrint-compatible routes, fed the exact requests the slicers send:
//!
//! - PrusaSlicer and OrcaSlicer (`src/slic3r/Utils/OctoPrint.cpp`, libcurl): `GET /api/version`
//!   with `X-Api-Key` first (the `text` must start with "OctoPrint"), then `POST
//!   /api/files/local` with text parts `print` ("true"/"false") and `path` (the upload folder,
//!   usually empty), Orca also `plateindex`, then the `file` part with the name in its
//!   Content-Disposition and curl's `application/octet-stream`.
//! - Cura's OctoPrint plugin (`OctoPrintOutputDevice.py`, Qt `QHttpMultiPart`): `select` =
//!   "true", `print` = "true" only when auto-print is on, then `file` without a Content-Type,
//!   a quoted boundary; it reads the `Location` header of the 201.

use crate::web_harness;

use web_harness::{Form, KEY, error_of, gcode, start};

const PRUSA_UA: &str = "PrusaSlicer/2.8.1";
const CURA_UA: &str = "Cura/5.7.2 OctoPrintPlugin/3.7.3";

#[tokio::test]
async fn the_version_check_answers_as_octoprint_and_needs_the_key() {
    let lan = start(|_| {}).await;
    let url = lan.url("/api/version");
    let response = lan
        .http
        .get(&url)
        .header("X-Api-Key", KEY)
        .header("User-Agent", PRUSA_UA);
    let version: serde_json::Value = response.send().await.unwrap().json().await.unwrap();
    assert_eq!(version["api"], "0.1");
    assert_eq!(version["server"], "1.11.0");
    let text = version["text"].as_str().unwrap();
    assert!(text.starts_with("OctoPrint"), "{text}");
    assert_eq!(text, "OctoPrint 1.11.0 (FluxPrint Gateway 0.1.0)");
    let wrong = lan
        .http
        .get(&url)
        .header("X-Api-Key", "not-the-key")
        .send()
        .await;
    assert_eq!(error_of(wrong.unwrap()).await.0, 401);
    lan.stop().await;
}

/// PrusaSlicer's "Upload" (print=false) and "Upload and Print" (print=true).
#[tokio::test]
async fn prusaslicer_upload_only_stores_and_upload_and_print_queues_a_job() {
    let lan = start(|_| {}).await;
    let data = gcode(20);
    let form = Form::curl().text("print", "false").text("path", "").file(
        "shape_0.2mm_PLA_MK3S_1h.gcode",
        Some("application/octet-stream"),
        &data,
    );
    let response = lan.upload("/api/files/local", form).await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("location").is_none());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["done"], true);
    assert_eq!(body["files"]["local"]["origin"], "local");
    assert!(body["files"]["local"]["refs"].is_object());
    let name = body["files"]["local"]["name"].as_str().unwrap().to_owned();
    assert!(name.ends_with("-shape_0.2mm_PLA_MK3S_1h.gcode"), "{name}");
    assert_eq!(lan.stored_files(), [name]);
    assert_eq!(lan.file_records().await, 1);
    assert_eq!(lan.job_count().await, 0, "print=false stores only");

    let form = Form::curl().text("print", "true").text("path", "").file(
        "shape_v2.gcode",
        Some("application/octet-stream"),
        &gcode(21),
    );
    let response = lan.upload("/api/files/local", form).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    let job = lan.get_json(&location).await;
    assert_eq!(job["id"], body["job"]);
    assert_eq!(job["status"], "queued");
    assert_eq!(job["source"], "slicer");
    assert_eq!(job["file_name"], "shape_v2.gcode");
    assert_eq!(
        body["files"]["local"]["refs"]["resource"],
        location.as_str()
    );
    lan.stop().await;
}

/// OrcaSlicer sends PrusaSlicer's shape plus `plateindex`, and a subfolder in `path`.
#[tokio::test]
async fn orcaslicer_upload_with_plateindex_and_a_folder_queues_a_job() {
    let lan = start(|_| {}).await;
    let form = Form::curl()
        .text("print", "true")
        .text("path", "orca/plates")
        .text("plateindex", "1")
        .file(
            "Cube_PLA_12m.gcode",
            Some("application/octet-stream"),
            &gcode(5),
        );
    let response = lan.upload("/api/files/local", form).await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let job = lan.get_json(&format!("/api/jobs/{}", body["job"])).await;
    assert_eq!(job["file_name"], "Cube_PLA_12m.gcode");
    let stored = lan.stored_files();
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].ends_with("-Cube_PLA_12m.gcode"),
        "flat, no folder: {stored:?}"
    );
    lan.stop().await;
}

async fn cura_upload(lan: &web_harness::Lan, auto_print: bool, name: &str) -> reqwest::Response {
    let mut form = Form::qt().text("select", "true");
    if auto_print {
        form = form.text("print", "true");
    }
    let (content_type, body) = form.file(name, None, &gcode(8)).finish();
    lan.http
        .post(lan.url("/api/files/local"))
        .header("User-Agent", CURA_UA)
        .header("X-Api-Key", KEY)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Cura with auto-print on (select + print) and off (select only: "Saved to OctoPrint").
#[tokio::test]
async fn cura_upload_prints_with_auto_print_and_only_stores_without_it() {
    let lan = start(|_| {}).await;
    let response = cura_upload(&lan, true, "CE3_benchy.gcode").await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job = lan.get_json(&location).await;
    assert_eq!(job["file_name"], "CE3_benchy.gcode");
    assert_eq!(job["status"], "queued");

    let response = cura_upload(&lan, false, "CE3_saved.gcode").await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["effectivePrint"], false);
    assert_eq!(lan.job_count().await, 1, "select alone queues nothing");
    assert_eq!(lan.stored_files().len(), 2);
    lan.stop().await;
}

#[tokio::test]
async fn slicer_uploads_follow_the_same_key_size_and_type_rules() {
    let lan = start(|c| c.web.max_upload_bytes = 1000).await;
    let (content_type, body) = Form::curl()
        .text("print", "true")
        .file("a.gcode", None, &gcode(2))
        .finish();
    let no_key = lan.http.post(lan.url("/api/files/local"));
    let no_key = no_key
        .header("Content-Type", content_type)
        .body(body)
        .send();
    assert_eq!(error_of(no_key.await.unwrap()).await.0, 401);
    let big = Form::curl()
        .text("print", "true")
        .file("big.gcode", None, &gcode(300));
    let (status, _, message, _) = error_of(lan.upload("/api/files/local", big).await).await;
    assert_eq!(
        (status, message.as_str()),
        (413, "File too large (max 1000 bytes)")
    );
    let exe = Form::curl()
        .text("print", "false")
        .file("tool.exe", None, b"MZ\x90\0");
    assert_eq!(
        error_of(lan.upload("/api/files/local", exe).await).await.0,
        415
    );
    assert_eq!(lan.stored_files(), Vec::<String>::new());
    assert_eq!(lan.job_count().await, 0);
    lan.stop().await;
}
