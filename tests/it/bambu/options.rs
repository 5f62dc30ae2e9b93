//! A job's print options, end to end: a two-plate project submitted with `plate=2`, the AMS
//! with a mapping and timelapse (as LAN form fields, or as a cloud job's `options`) prints
//! plate 2 with exactly those values in the firmware's `project_file`, is analysed on plate
//! 2's G-code and shows its options; bad options are refused with their code and leave
//! nothing stored; the estimate answers for the project's chosen plate.

use super::intake::{analysed_layers, downloaded, gateway, job_id, layered_part, post};
use super::project::zip_packed;
use super::*;
use crate::web_harness::KEY;
use fluxprint_gateway::domain::{PrintOptions, QueuedStage};
use fluxprint_gateway::jobs::NewJob;
use serde_json::{Value, json};

/// A plate's G-code: `layers` layers of a small part, with the slicer's layer count.
fn plate_gcode(layers: u32) -> String {
    let part = layered_part("plate", layers);
    format!("; total layer number: {layers}\n{part}")
}

/// A project with two sliced plates: plate 1 of 7 layers, plate 2 of 3.
fn two_plates() -> Vec<u8> {
    let (one, two) = (plate_gcode(7), plate_gcode(3));
    zip_packed(
        &[
            ("3D/3dmodel.model", b"<model/>".as_slice()),
            ("Metadata/plate_1.gcode", one.as_bytes()),
            ("Metadata/plate_2.gcode", two.as_bytes()),
        ],
        true,
    )
}

/// The `project_file` request the firmware took for `job`.
fn project_file(bench: &Bench, job: JobId) -> Value {
    let subtask = format!("fluxprint-job-{}", job.0);
    bench.firmware.with(|fw| {
        (fw.requests.iter())
            .find(|r| {
                r["print"]["command"] == "project_file" && r["print"]["subtask_name"] == subtask
            })
            .cloned()
            .expect("a project_file request")
    })
}

fn assert_asked_as_submitted(request: &Value) {
    let print = &request["print"];
    assert_eq!(print["param"], "Metadata/plate_2.gcode", "{request}");
    assert_eq!(print["use_ams"], true, "{request}");
    assert_eq!(print["ams_mapping"], json!([1, -1]), "{request}");
    assert_eq!(print["timelapse"], true, "{request}");
    assert_eq!(print["bed_levelling"], false, "{request}");
}

const SUBMITTED: [(&str, &str); 5] = [
    ("printer", "bambu"),
    ("plate", "2"),
    ("use_ams", "true"),
    ("ams_mapping", "[1,-1]"),
    ("timelapse", "true"),
];

#[tokio::test]
async fn a_project_uploaded_with_options_prints_its_plate_as_asked_and_shows_them() {
    let bench = Bench::start("01S00C000000061", Reports::Full);
    let (running, base) = gateway(&bench).await;
    let gw = running.gateway.clone();
    WAIT.printer(&gw, "idle", |s| *s == PrinterState::Idle)
        .await;

    let (status, job) = post(
        &base,
        "/api/jobs",
        "two.gcode.3mf",
        &two_plates(),
        &SUBMITTED,
    )
    .await;
    assert_eq!(status, 201, "{job}");
    let options = json!({"plate": 2, "use_ams": true, "ams_mapping": [1, -1],
        "timelapse": true, "bed_levelling": false});
    assert_eq!(job["options"], options);
    let id = job_id(&job);
    let shown: Value = reqwest::Client::new()
        .get(format!("{base}/api/jobs/{}", id.0))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["options"], options, "{shown}");
    assert_eq!(analysed_layers(&running, id).await, Some(3));

    WAIT.job(&gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_asked_as_submitted(&project_file(&bench, id));
    running.stop().await;
}

/// A refused upload: file name, bytes, fields; the status, code and a part of the message.
type Refused<'a> = (
    &'a str,
    &'a [u8],
    &'a [(&'a str, &'a str)],
    u16,
    &'a str,
    &'a str,
);

#[tokio::test]
async fn bad_options_are_refused_with_their_code_and_nothing_is_stored() {
    let bench = Bench::start("01S00C000000062", Reports::Full);
    let (running, base) = gateway(&bench).await;
    let project = two_plates();
    let gcode = plate_gcode(2);
    let cases: [Refused; 7] = [
        (
            "p.gcode.3mf",
            &project,
            &[("plate", "5")],
            422,
            "invalid_options",
            "plates are 1, 2",
        ),
        (
            "p.gcode.3mf",
            &project,
            &[("use_ams", "true"), ("ams_mapping", "[0,16]")],
            400,
            "bad_request",
            "out of range",
        ),
        (
            "p.gcode.3mf",
            &project,
            &[("use_ams", "true"), ("ams_mapping", "1,2")],
            400,
            "bad_request",
            "JSON array",
        ),
        (
            "p.gcode.3mf",
            &project,
            &[("timelapse", "yes")],
            400,
            "bad_request",
            "true or false",
        ),
        (
            "p.gcode.3mf",
            &project,
            &[("ams_mapping", "[0]")],
            400,
            "bad_request",
            "use_ams",
        ),
        (
            "p.gcode",
            gcode.as_bytes(),
            &[("timelapse", "true")],
            422,
            "invalid_options",
            "G-code text",
        ),
        (
            "p.gcode.3mf",
            &project,
            &[("printer", "mk3s"), ("plate", "1")],
            422,
            "invalid_options",
            "not a Bambu printer",
        ),
    ];
    for (name, file, fields, status, code, said) in cases {
        let (seen, body) = post(&base, "/api/jobs", name, file, fields).await;
        assert_eq!(
            (seen, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{fields:?}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{fields:?}: {message}");
    }
    let jobs = running.gateway.jobs(Default::default()).await.unwrap();
    assert!(jobs.is_empty(), "{jobs:?}");
    assert_eq!(crate::common::stored::file_rows(&running).await, 0);
    let kept = std::fs::read_dir(bench.dir.path().join("files"))
        .unwrap()
        .count();
    assert_eq!(kept, 0, "files left in the files directory");
    running.stop().await;
}

/// A cloud job (`job.submit` with `options`, then its download, through the same gateway
/// calls the cloud link makes): refused for a printer that is not a Bambu printer; else the
/// options are kept with the job, checked against the downloaded project, and carried to the
/// printer.
#[tokio::test]
async fn a_downloaded_project_prints_with_the_options_its_cloud_job_gave() {
    let bench = Bench::start("01S00C000000063", Reports::Full);
    let (running, _base) = gateway(&bench).await;
    let gw = running.gateway.clone();
    WAIT.printer(&gw, "idle", |s| *s == PrinterState::Idle)
        .await;
    let fetching = |plate: u32| NewJob {
        file_name: "cloud.gcode.3mf".into(),
        stage: Some(QueuedStage::Fetching),
        printer: Some(PrinterId("bambu".into())),
        options: Some(PrintOptions {
            plate: Some(plate),
            use_ams: true,
            ams_mapping: vec![1, -1],
            timelapse: true,
            bed_levelling: false,
        }),
        ..NewJob::default()
    };
    let download = |name: &str| downloaded(&bench, name, &two_plates());

    // A cloud job with options for the simulated printer is refused before it is stored.
    let for_mk3s = NewJob {
        printer: Some(PrinterId("mk3s".into())),
        ..fetching(2)
    };
    let refused = gw.submit(for_mk3s).await.unwrap_err();
    assert_eq!(refused.code(), "invalid_options", "{refused}");
    assert!(
        refused.to_string().contains("not a Bambu printer"),
        "{refused}"
    );
    assert!(gw.jobs(Default::default()).await.unwrap().is_empty());

    let missing = gw.submit(fetching(3)).await.unwrap();
    let failed = gw
        .attach_download(missing.id, None, download("three"))
        .await
        .unwrap();
    let JobStatus::Failed { error } = failed.status else {
        panic!("a job for plate 3 of a two-plate project must fail: {failed:?}");
    };
    assert!(
        error.contains("no plate 3") && error.contains("1, 2"),
        "{error}"
    );

    let job = gw.submit(fetching(2)).await.unwrap();
    assert_eq!(job.options.as_ref().and_then(|o| o.plate), Some(2));
    gw.attach_download(job.id, None, download("two"))
        .await
        .unwrap();
    assert_eq!(analysed_layers(&running, job.id).await, Some(3));
    WAIT.job(&gw, job.id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_asked_as_submitted(&project_file(&bench, job.id));
    running.stop().await;
}

#[tokio::test]
async fn the_estimate_of_a_project_is_its_chosen_plates() {
    let bench = Bench::start("01S00C000000064", Reports::Full);
    let (running, base) = gateway(&bench).await;
    let project = two_plates();
    let estimate = |fields: &'static [(&'static str, &'static str)]| {
        let (base, project) = (base.clone(), project.clone());
        async move { post(&base, "/api/estimate", "two.gcode.3mf", &project, fields).await }
    };
    let (status, first) = estimate(&[]).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["layers"], 7, "{first}");
    let (status, second) = estimate(&[("plate", "2")]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["layers"], 3, "{second}");
    assert!(second["estimated_time"].as_u64().unwrap() < first["estimated_time"].as_u64().unwrap());
    let (status, missing) = estimate(&[("plate", "9")]).await;
    assert_eq!(status, 400, "{missing}");
    let message = missing["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no plate 9"), "{message}");
    running.stop().await;
}
