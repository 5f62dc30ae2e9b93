//! `POST /api/jobs` analyses G-code while the upload streams in (`gcode::along`), end to end
//! over the LAN door: the job and its stored analysis are exactly what the whole-file
//! analysis of the stored file gives, whether the pass ran along the upload or (form parts
//! larger than it allows for) after it; `/metrics` says which one ran. So do a slicer's
//! `POST /api/files/local` with `print=true` before the file, as PrusaSlicer sends it, and
//! `POST /api/estimate`.

use crate::web_harness;

use std::path::{Path, PathBuf};

use fluxprint_gateway::domain::JobId;
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gcode::estimate::{self, Quality};
use fluxprint_gateway::gcode::intel;
use fluxprint_gateway::gcode::{FileIntel, ProgressTable};
use fluxprint_gateway::wire::EstimateJson;
use serde_json::{Value, json};
use web_harness::{Form, KEY, Lan, start};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gcode")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

/// The stored file's path and progress table of job `id`.
async fn stored(lan: &Lan, id: i64) -> (PathBuf, ProgressTable) {
    lan.running
        .store()
        .call(move |db| {
            let job = db.job(JobId(id))?;
            let file = job.file.expect("the job has its file");
            let path = db.file(file)?.expect("the file is recorded").path;
            Ok((path, db.progress_table(file)?.expect("an analysis")))
        })
        .await
        .unwrap()
}

/// The progress table as the store keeps it (times in tenths of a second).
fn as_stored(table: &ProgressTable) -> Vec<(u64, f64)> {
    let tenths = |t: f64| (t * 10.0).round() / 10.0;
    table
        .samples()
        .iter()
        .map(|&(b, t)| (b, tenths(t)))
        .collect()
}

async fn analysed_count(lan: &Lan, when: &str) -> u64 {
    let response = lan.http.get(lan.url("/metrics")).header("X-Api-Key", KEY);
    let text = response.send().await.unwrap().text().await.unwrap();
    let name = format!("fluxprint_gcode_uploads_analysed_total{{when=\"{when}\"}} ");
    (text.lines())
        .find_map(|l| l.strip_prefix(name.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// How many uploads were analysed along (first) and after (second), as `/metrics` counts.
async fn assert_analysed(lan: &Lan, along: u64, after_upload: u64) {
    let counts = (
        analysed_count(lan, "along").await,
        analysed_count(lan, "after_upload").await,
    );
    assert_eq!(
        counts,
        (along, after_upload),
        "uploads analysed (along, after)"
    );
}

/// Uploads `form` (material PETG) as a job, then checks it against the whole-file analysis
/// of what was stored.
async fn upload_and_compare(lan: &Lan, form: Form) {
    let response = lan.upload("/api/jobs", form).await;
    assert_eq!(response.status(), 201);
    let job: Value = response.json().await.unwrap();
    compare(lan, &job, "PETG").await;
}

/// A job (its JSON) against the whole-file analysis of its stored file, for `material`.
async fn compare(lan: &Lan, job: &Value, material: &str) {
    let (path, table) = stored(lan, job["id"].as_i64().unwrap()).await;
    let whole: FileIntel = intel::analyse_file(&path, material, &[]).unwrap();
    assert_eq!(as_stored(&table), as_stored(&whole.progress));
    assert_eq!(job["estimated_time"], whole.estimated_time_s);
    let cost = job["estimated_cost"].as_f64().unwrap();
    assert!(
        (cost - whole.estimated_cost).abs() < 0.005,
        "{cost} vs {whole:?}"
    );
}

#[tokio::test]
async fn a_job_analysed_along_its_upload_is_the_same_as_the_stored_files_analysis() {
    let lan = start(|_| {}).await;
    for name in ["cylinder.gcode", "thumb.gcode"] {
        let form = Form::curl()
            .text("material", "PETG")
            .file(name, Some("application/octet-stream"), &fixture(name))
            .text("printer", "mk3s");
        upload_and_compare(&lan, form).await;
    }
    assert_analysed(&lan, 2, 0).await;
    lan.stop().await;
}

#[tokio::test]
async fn a_job_whose_form_parts_outgrow_the_allowance_is_analysed_after_its_upload() {
    let lan = start(|_| {}).await;
    // Two long text parts: more besides the file than the streaming pass allows for.
    let long = "x".repeat(1000);
    let form = Form::curl()
        .text("material", "PETG")
        .text("note", &long)
        .text("other", &long)
        .text("more", &long)
        .text("again", &long)
        .text("last", &long)
        .file("cylinder.gcode", None, &fixture("cylinder.gcode"));
    upload_and_compare(&lan, form).await;
    assert_analysed(&lan, 0, 1).await;
    lan.stop().await;
}

/// `POST /api/files/local` as a slicer sends it; the job it queued, if any, as
/// `GET /api/jobs/{id}` shows it (OctoPrint's answer carries only its number).
async fn send_to_printer(lan: &Lan, form: Form) -> Option<Value> {
    let response = lan.upload("/api/files/local", form).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let id = body["job"].as_i64()?;
    let request = lan.http.get(lan.url(&format!("/api/jobs/{id}")));
    let job = request.header("X-Api-Key", KEY).send().await.unwrap();
    Some(job.json().await.unwrap())
}

#[tokio::test]
async fn a_slicers_upload_to_print_is_analysed_along_when_print_comes_first() {
    let lan = start(|_| {}).await;
    // PrusaSlicer's order: `print`, `path`, then the file.
    let form = Form::curl().text("print", "true").text("path", "").file(
        "cylinder.gcode",
        None,
        &fixture("cylinder.gcode"),
    );
    let job = send_to_printer(&lan, form)
        .await
        .expect("print=true queues a job");
    compare(&lan, &job, "PLA").await;
    assert_analysed(&lan, 1, 0).await;
    lan.stop().await;
}

#[tokio::test]
async fn a_slicers_upload_with_print_after_the_file_is_analysed_after_and_a_stored_one_not_at_all()
{
    let lan = start(|_| {}).await;
    let form = Form::curl()
        .file("thumb.gcode", None, &fixture("thumb.gcode"))
        .text("print", "true");
    let job = send_to_printer(&lan, form)
        .await
        .expect("print=true queues a job");
    compare(&lan, &job, "PLA").await;
    assert_analysed(&lan, 0, 1).await;
    // Only stored: no analysis, along or after.
    let form = Form::curl().text("print", "false").file(
        "cylinder.gcode",
        None,
        &fixture("cylinder.gcode"),
    );
    assert_eq!(send_to_printer(&lan, form).await, None);
    assert_analysed(&lan, 0, 1).await;
    lan.stop().await;
}

#[tokio::test]
async fn an_estimate_analysed_along_its_upload_is_the_stored_files_estimate() {
    let lan = start(|_| {}).await;
    let volumes = lan.running.gateway.build_volumes(None).unwrap();
    for name in ["cylinder.gcode", "thumb.gcode"] {
        let form = Form::curl()
            .text("material", "PETG")
            .file(name, None, &fixture(name));
        let response = lan.upload("/api/estimate", form).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        let whole = estimate::for_printers(
            &fixture_path(name),
            FileKind::GcodeText,
            None,
            "PETG",
            Quality::Standard,
            &volumes,
        )
        .unwrap();
        assert_eq!(answer, json!(EstimateJson::new(whole, &volumes)), "{name}");
    }
    assert_analysed(&lan, 2, 0).await;
    // An unknown material is still the request's fault, the pass read or not.
    let form = Form::curl().text("material", "unobtainium").file(
        "cylinder.gcode",
        None,
        &fixture("cylinder.gcode"),
    );
    assert_eq!(lan.upload("/api/estimate", form).await.status(), 400);
    assert!(lan.stored_files().is_empty(), "an estimate stores nothing");
    lan.stop().await;
}
