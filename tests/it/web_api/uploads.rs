//! Uploads through `POST /api/jobs`: stored under their hash with a safe name, and every
//! refusal (size, type, printer, a model without a slicer) leaving nothing behind.

use super::*;

#[tokio::test]
async fn an_upload_queues_a_job_and_stores_the_file_under_its_hash_and_a_safe_name() {
    let lan = start(|_| {}).await;
    let data = gcode(50);
    let form = Form::curl()
        .text("material", "PLA")
        .file("part.gcode", Some("application/octet-stream"), &data)
        .text("quality", "0.2mm");
    let response = lan.upload("/api/jobs", form).await;
    assert_eq!(response.status(), 201);
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["status"], "queued");
    assert_eq!(job["file_name"], "part.gcode");
    assert_eq!(job["material"], "PLA");
    assert_eq!(job["quality"], "0.2mm");
    assert_eq!(job["source"], "lan");
    let stored = format!("{}-part.gcode", sha256_prefix(&data));
    assert_eq!(std::fs::read(lan.files_dir().join(&stored)).unwrap(), data);
    assert_eq!(lan.stored_files(), [stored]);
    let again = lan.get_json(&format!("/api/jobs/{}", job["id"])).await;
    assert_eq!(again["id"], job["id"]);
    let status = lan.get_json("/api/status").await;
    assert_eq!(status["queue"][0]["id"], job["id"]);
    lan.stop().await;
}

#[tokio::test]
async fn traversal_and_odd_names_stay_inside_files_and_keep_their_display_name() {
    let lan = start(|_| {}).await;
    let cases = [
        ("../../etc/passwd.gcode", "passwd.gcode"),
        ("a/b.gcode", "b.gcode"),
        ("tab\there.gcode", "tab_here.gcode"),
        (
            &format!("{}.gcode", "long".repeat(60)) as &str,
            &format!("{}.gcode", &"long".repeat(60)[..94]) as &str,
        ),
    ];
    for (i, (display, safe)) in cases.iter().enumerate() {
        let data = gcode(i + 1);
        let form = Form::curl().file(display, None, &data);
        let response = lan.upload("/api/jobs", form).await;
        assert_eq!(response.status(), 201, "{display}");
        let job: serde_json::Value = response.json().await.unwrap();
        assert_eq!(job["file_name"], *display);
        let stored = format!("{}-{safe}", sha256_prefix(&data));
        assert!(
            lan.stored_files().contains(&stored),
            "{stored} not in files/"
        );
    }
    assert!(!lan.dir.path().join("etc").exists());
    // A control character the multipart parser refuses outright: 400, nothing kept.
    let form = Form::curl().file("bell\u{1}.gcode", None, &gcode(1));
    assert_eq!(error_of(lan.upload("/api/jobs", form).await).await.0, 400);
    assert_eq!(lan.stored_files().len(), cases.len());
    lan.stop().await;
}

#[tokio::test]
async fn a_file_over_the_limit_gets_413_and_leaves_nothing_behind() {
    let lan = start(|c| c.web.max_upload_bytes = 1000).await;
    let form = Form::curl().file("big.gcode", None, &gcode(200));
    let (status, code, message, _) = error_of(lan.upload("/api/jobs", form).await).await;
    assert_eq!((status, code.as_str()), (413, "file_too_large"));
    assert_eq!(message, "File too large (max 1000 bytes)");
    assert_eq!(lan.stored_files(), Vec::<String>::new());
    assert_eq!(lan.file_records().await, 0);
    assert_eq!(lan.job_count().await, 0);
    lan.stop().await;
}

#[tokio::test]
async fn wrong_types_get_415_by_content_and_by_extension_and_leave_nothing() {
    let lan = start(|_| {}).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0";
    let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";
    for (name, data) in [("photo.gcode", &png[..]), ("setup.exe", &exe[..])] {
        let form = Form::curl().file(name, Some("application/octet-stream"), data);
        let (status, code, message, _) = error_of(lan.upload("/api/jobs", form).await).await;
        assert_eq!(
            (status, code.as_str()),
            (415, "unsupported_file_type"),
            "{name}"
        );
        assert!(
            message.contains(".gcode") && message.contains(".stl"),
            "{message}"
        );
    }
    assert_eq!(lan.stored_files(), Vec::<String>::new());
    assert_eq!(lan.file_records().await, 0);
    assert_eq!(lan.job_count().await, 0);
    lan.stop().await;
}

#[tokio::test]
async fn an_unknown_printer_gets_404_and_the_upload_leaves_nothing() {
    let lan = start(|_| {}).await;
    let form = Form::curl()
        .text("printer", "nope")
        .file("part.gcode", None, &gcode(3));
    let (status, code, _, _) = error_of(lan.upload("/api/jobs", form).await).await;
    assert_eq!((status, code.as_str()), (404, "unknown_printer"));
    assert_eq!(lan.stored_files(), Vec::<String>::new());
    assert_eq!(lan.file_records().await, 0);
    assert_eq!(lan.job_count().await, 0);
    lan.stop().await;
}

#[tokio::test]
async fn models_and_binary_gcode_are_queued_and_failed_with_the_reason() {
    let lan = start(|_| {}).await;
    let mut stl = vec![0u8; 84 + 50];
    stl[80] = 1;
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "cube.stl",
            &stl,
            "this gateway prints G-code; configure a slicer",
        ),
        (
            "plate.3mf",
            b"PK\x03\x04\x14\0\0\0",
            "this gateway prints G-code; configure a slicer",
        ),
        (
            "part.bgcode",
            b"GCDE\x01\0\0\0",
            "binary G-code is not supported by this gateway yet",
        ),
    ];
    for (name, data, reason) in cases {
        let response = lan
            .upload("/api/jobs", Form::curl().file(name, None, data))
            .await;
        assert_eq!(response.status(), 201, "{name}");
        let job: serde_json::Value = response.json().await.unwrap();
        assert_eq!(job["status"], "failed", "{name}");
        assert_eq!(job["error"], reason, "{name}");
    }
    assert_eq!(
        lan.get_json("/api/status").await["queue"],
        serde_json::json!([])
    );
    lan.stop().await;
}
