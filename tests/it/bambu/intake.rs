//! Sliced Bambu projects through the gateway's intake: a `.gcode.3mf` uploaded with
//! `POST /api/jobs` is a ready job, analysed on its plate's G-code, printed by the Bambu
//! printer (over FTPS, then `project_file` on its plate); a model 3MF for a Bambu printer
//! and a project for another printer fail at once, saying why; a project sent to no printer
//! in particular waits for the Bambu printer while another printer takes the G-code behind
//! it.

use super::project::zip_packed;
use super::*;
use crate::web_harness::{Form, KEY};
use fluxprint_gateway::domain::QueuedStage;
use fluxprint_gateway::files::FileKind;
use fluxprint_gateway::gateway::PlacedFile;
use fluxprint_gateway::jobs::NewJob;

/// A gateway with the Bench's Bambu printer (`bambu`) and a simulated one (`mk3s`), its
/// LAN API open with `KEY`.
pub(super) async fn gateway(bench: &Bench) -> (app::Running, String) {
    fluxprint_gateway::cloud::tls::install_crypto_provider();
    let sim = printer("mk3s", [250.0, 210.0, 210.0], false);
    let mut config = config(bench.dir.path(), vec![bench.good_config(), sim]);
    config.web.api_key = Some(Secret::new(KEY));
    let drivers = BuiltinDrivers {
        state_dir: bench.dir.path().to_path_buf(),
    };
    let running = app::start(config, Arc::new(drivers), CancellationToken::new())
        .await
        .unwrap();
    let base = format!("http://{}", running.web_addr());
    (running, base)
}

/// `POST {path}` with `file` as `name` and the text `fields`; the status and the JSON answer.
pub(super) async fn post(
    base: &str,
    path: &str,
    name: &str,
    file: &[u8],
    fields: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = Form::curl().file(name, Some("application/octet-stream"), file);
    for (field, value) in fields {
        form = form.text(field, value);
    }
    let (content_type, body) = form.finish();
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("X-Api-Key", KEY)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// `POST /api/jobs` with `file` as `name` for `printer` (`None`: any); the job's JSON.
async fn upload(base: &str, name: &str, file: &[u8], printer: Option<&str>) -> serde_json::Value {
    let fields: Vec<_> = printer.map(|p| ("printer", p)).into_iter().collect();
    let (status, job) = post(base, "/api/jobs", name, file, &fields).await;
    assert_eq!(status, 201, "POST /api/jobs {name}: {job}");
    job
}

/// The layers the analysis of `job`'s file counted.
pub(super) async fn analysed_layers(running: &app::Running, job: JobId) -> Option<i64> {
    running
        .store()
        .call(move |db| {
            Ok(db.conn().query_row(
                "SELECT layers FROM file_analysis JOIN print_jobs \
                 ON file_analysis.file_id = print_jobs.file_id \
                 WHERE print_jobs.id = ?1",
                [job.0],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

pub(super) fn job_id(job: &serde_json::Value) -> JobId {
    JobId(job["id"].as_i64().expect("a job id"))
}

/// `bytes` as the download `{name}.gcode.3mf` the cloud fetch left in the files directory
/// (its kind as the name and head said: a 3MF).
pub(super) fn downloaded(bench: &Bench, name: &str, bytes: &[u8]) -> PlacedFile {
    let display_name = format!("{name}.gcode.3mf");
    let path = bench.dir.path().join("files").join(&display_name);
    std::fs::write(&path, bytes).unwrap();
    PlacedFile {
        path,
        display_name,
        kind: FileKind::ThreeMf,
        sha256: "0".repeat(64),
        size: bytes.len() as u64,
    }
}

/// A project whose plate 2 is `part`, with the plate's G-code deflated.
fn project(name: &str) -> Vec<u8> {
    let plate = format!("; total layer number: 7\n{}", layered_part(name, 7));
    zip_packed(
        &[
            ("3D/3dmodel.model", b"<model/>".as_slice()),
            ("Metadata/plate_2.png", b"png"),
            ("Metadata/plate_2.gcode", plate.as_bytes()),
            ("Metadata/plate_2.gcode.md5", b"0"),
        ],
        true,
    )
}

/// A small part printed in `layers` layers (a Z move, then extruding moves), so the analysis
/// has layers to count.
pub(super) fn layered_part(name: &str, layers: u32) -> String {
    let layers: String = (1..=layers)
        .map(|z| {
            let moves: String = (0..40)
                .map(|i| format!("G1 X{} Y{} E{}.5 F3000\n", i % 50, i % 40, z * 40 + i))
                .collect();
            format!(";LAYER_CHANGE\nG1 Z{:.1} F600\n{moves}", f64::from(z) * 0.2)
        })
        .collect();
    format!("; {name}\nM104 S220\nM140 S60\nG28\nG92 E0\n{layers}M104 S0\n")
}

#[tokio::test]
async fn a_sliced_project_uploaded_through_the_lan_api_prints_on_its_plate() {
    let bench = Bench::start("01S00C000000041", Reports::Full);
    let (running, base) = gateway(&bench).await;
    let gw = running.gateway.clone();
    WAIT.printer(&gw, "idle", |s| *s == PrinterState::Idle)
        .await;

    let file = project("benchy");
    let job = upload(&base, "benchy.gcode.3mf", &file, Some("bambu")).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert!(job["estimated_time"].as_u64().unwrap_or(0) > 0, "{job}");
    let id = job_id(&job);
    WAIT.job(&gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;

    let request = bench.firmware.with(|fw| {
        (fw.requests.iter())
            .find(|r| r["print"]["command"] == "project_file")
            .cloned()
            .expect("a project_file request")
    });
    assert_eq!(request["print"]["param"], "Metadata/plate_2.gcode");
    let url = format!("ftp:///fluxprint-job-{}.gcode.3mf", id.0);
    assert_eq!(request["print"]["url"], url);
    assert_eq!(bench.firmware.with(|fw| fw.printed.clone()), vec![file]);

    // The analysis ran on the plate's G-code inside the zip: its layers were counted.
    let layers = analysed_layers(&running, id).await;
    assert_eq!(layers, Some(7));

    // The Bambu printer's bed needs clearing now: a project sent to no printer in particular
    // waits for it, and the idle `mk3s` passes it over for the G-code queued behind it.
    let waiting = upload(&base, "any.gcode.3mf", &project("any"), None).await;
    let gcode = upload(&base, "part.gcode", part("part").as_bytes(), None).await;
    WAIT.job(&gw, job_id(&gcode), "taken by mk3s", |s| {
        !matches!(s, JobStatus::Queued(_))
    })
    .await;
    let mk3s = PrinterId("mk3s".into());
    assert_eq!(gw.job(job_id(&gcode)).await.unwrap().printer, Some(mk3s));
    let still = gw.job(job_id(&waiting)).await.unwrap();
    assert_eq!(still.status, JobStatus::Queued(QueuedStage::Ready));
    gw.bed_cleared(&PrinterId("bambu".into())).await.unwrap();
    WAIT.job(&gw, job_id(&waiting), "completed", |s| {
        *s == JobStatus::Completed
    })
    .await;
    let printed = gw.job(job_id(&waiting)).await.unwrap().printer;
    assert_eq!(printed, Some(PrinterId("bambu".into())));
    running.stop().await;
}

#[tokio::test]
async fn a_model_for_a_bambu_printer_and_a_project_for_another_printer_fail_with_the_reason() {
    let bench = Bench::start("01S00C000000042", Reports::Full);
    let (running, base) = gateway(&bench).await;
    let gw = running.gateway.clone();

    let model = zip_packed(&[("3D/3dmodel.model", b"<model/>".as_slice())], true);
    let job = upload(&base, "model.3mf", &model, Some("bambu")).await;
    let status = WAIT
        .job(&gw, job_id(&job), "failed", |s| {
            matches!(s, JobStatus::Failed { .. })
        })
        .await;
    let JobStatus::Failed { error } = status else {
        unreachable!()
    };
    assert!(
        error.contains("Bambu Studio") && error.contains(".gcode.3mf"),
        "{error}"
    );

    let job = upload(&base, "p.gcode.3mf", &project("p"), Some("mk3s")).await;
    let status = WAIT
        .job(&gw, job_id(&job), "failed", |s| {
            matches!(s, JobStatus::Failed { .. })
        })
        .await;
    let JobStatus::Failed { error } = status else {
        unreachable!()
    };
    assert!(
        error.contains("only on a Bambu printer") && error.contains("mk3s"),
        "{error}"
    );
    running.stop().await;
}

/// A cloud job whose download was a sliced project: for no printer in particular it prints
/// on the Bambu printer (the idle `mk3s` never takes it), for `mk3s` it fails with the reason.
#[tokio::test]
async fn a_downloaded_project_goes_to_the_bambu_printer_or_fails_for_another() {
    let bench = Bench::start("01S00C000000044", Reports::Full);
    let (running, _base) = gateway(&bench).await;
    let gw = running.gateway.clone();
    WAIT.printer(&gw, "idle", |s| *s == PrinterState::Idle)
        .await;
    let fetching = |printer: Option<&str>| NewJob {
        file_name: "cloud.gcode.3mf".into(),
        stage: Some(QueuedStage::Fetching),
        printer: printer.map(|p| PrinterId(p.into())),
        ..NewJob::default()
    };
    let download = |name: &str| downloaded(&bench, name, &project(name));

    let anywhere = gw.submit(fetching(None)).await.unwrap();
    assert_eq!(anywhere.printer, None);
    let ready = gw
        .attach_download(anywhere.id, None, download("anywhere"))
        .await;
    assert_eq!(ready.unwrap().status, JobStatus::Queued(QueuedStage::Ready));
    WAIT.job(&gw, anywhere.id, "completed", |s| {
        *s == JobStatus::Completed
    })
    .await;
    let printed = gw.job(anywhere.id).await.unwrap().printer;
    assert_eq!(printed, Some(PrinterId("bambu".into())));

    let mk3s = gw.submit(fetching(Some("mk3s"))).await.unwrap();
    let failed = gw.attach_download(mk3s.id, None, download("mk3s")).await;
    let JobStatus::Failed { error } = failed.unwrap().status else {
        panic!("a project for mk3s must fail");
    };
    assert!(error.contains("only on a Bambu printer"), "{error}");
    running.stop().await;
}
