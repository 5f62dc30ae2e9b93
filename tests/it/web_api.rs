//! The LAN API over real HTTP on 127.0.0.1:0: auth, limits, uploads, errors, pagination and
//! security headers, against a gateway started through `app::start`.

use crate::web_harness;

mod uploads;

use fluxprint_gateway::web::api::ROUTES;
use web_harness::{Form, KEY, error_of, gcode, sha256_prefix, start};

#[tokio::test]
async fn health_is_open_and_status_needs_the_key_when_public_status_is_off() {
    let lan = start(|_| {}).await;
    let health = lan.http.get(lan.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "version": "0.1.0"})
    );

    for path in ["/api/status", "/api/jobs", "/api/jobs/1"] {
        let response = lan.http.get(lan.url(path)).send().await.unwrap();
        let (status, code, _, _) = error_of(response).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{path}");
    }
    let status = lan.get_json("/api/status").await;
    assert_eq!(status["gateway"]["id"], "gw-test");
    assert_eq!(status["printers"][0]["id"], "mk3s");
    assert_eq!(status["queue"], serde_json::json!([]));
    lan.stop().await;
}

#[tokio::test]
async fn public_status_opens_read_routes_but_never_control() {
    let lan = start(|c| c.web.public_status = true).await;
    let status = lan.http.get(lan.url("/api/status")).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let cancel = lan.http.post(lan.url("/api/jobs/1/cancel")).send().await;
    let (status, code, _, _) = error_of(cancel.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    lan.stop().await;
}

#[tokio::test]
async fn control_needs_the_right_key_and_bearer_works_too() {
    let lan = start(|_| {}).await;
    let url = lan.url("/api/jobs/999/cancel");
    let missing = lan.http.post(&url).send().await.unwrap();
    assert_eq!(error_of(missing).await.0, 401);
    let wrong = lan.http.post(&url).header("X-Api-Key", "nope").send().await;
    assert_eq!(error_of(wrong.unwrap()).await.0, 401);
    let wrong_bearer = lan.http.post(&url).bearer_auth("nope").send().await;
    assert_eq!(error_of(wrong_bearer.unwrap()).await.0, 401);
    // The right key gets through to the command, which knows no job 999.
    for request in [
        lan.http.post(&url).header("X-Api-Key", KEY),
        lan.http.post(&url).bearer_auth(KEY),
    ] {
        let (status, code, message, _) = error_of(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (404, "job_not_found"));
        assert!(message.contains("999"), "{message}");
    }
    lan.stop().await;
}

#[tokio::test]
async fn requests_over_the_rate_limit_get_429_with_retry_after() {
    let lan = start(|c| c.web.rate_limit_per_minute = 2).await;
    for _ in 0..2 {
        assert_eq!(lan.post_key("/api/jobs/1/cancel").await.status(), 404);
    }
    let (status, code, _, headers) = error_of(lan.post_key("/api/jobs/1/cancel").await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    // Reading is not limited.
    assert_eq!(
        lan.get_json("/api/status").await["gateway"]["id"],
        "gw-test"
    );
    lan.stop().await;
}

#[tokio::test]
async fn bad_move_bodies_unknown_jobs_and_pausing_a_queued_job_get_their_statuses() {
    let lan = start(|_| {}).await;
    let response = lan
        .upload("/api/jobs", Form::curl().file("a.gcode", None, &gcode(2)))
        .await;
    let job: serde_json::Value = response.json().await.unwrap();
    let id = job["id"].as_i64().unwrap();
    let move_url = lan.url(&format!("/api/jobs/{id}/move"));
    for body in ["{position: 1", "{\"position\": -1}", "{\"pos\": 0}", ""] {
        let response = lan
            .http
            .post(&move_url)
            .header("X-Api-Key", KEY)
            .body(body)
            .send();
        let (status, code, _, _) = error_of(response.await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{body:?}");
    }
    let ok = lan
        .http
        .post(&move_url)
        .header("X-Api-Key", KEY)
        .body("{\"position\": 0}");
    let order: serde_json::Value = ok.send().await.unwrap().json().await.unwrap();
    assert_eq!(order["order"], serde_json::json!([id]));
    let unknown = lan
        .http
        .post(lan.url("/api/jobs/424242/move"))
        .header("X-Api-Key", KEY);
    let unknown = unknown.body("{\"position\": 0}").send().await.unwrap();
    assert_eq!(error_of(unknown).await.0, 404);
    let (status, code, message, _) =
        error_of(lan.post_key(&format!("/api/jobs/{id}/pause")).await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(message.contains("queued"), "{message}");
    let response = lan
        .http
        .get(lan.url("/api/jobs/abc"))
        .header("X-Api-Key", KEY)
        .send();
    assert_eq!(error_of(response.await.unwrap()).await.0, 400);
    lan.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_no_cors() {
    let lan = start(|_| {}).await;
    let ok = lan.http.get(lan.url("/api/health")).send().await.unwrap();
    let missing = lan.http.get(lan.url("/no/such/page")).send().await.unwrap();
    let denied = lan.http.get(lan.url("/api/status")).send().await.unwrap();
    let statuses: Vec<u16> = [&ok, &missing, &denied]
        .map(|r| r.status().as_u16())
        .to_vec();
    assert_eq!(statuses, [200, 404, 401]);
    for response in [ok, missing, denied] {
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h.get("access-control-allow-origin").is_none());
    }
    lan.stop().await;
}

#[tokio::test]
async fn the_job_list_pages_newest_first_by_cursor() {
    let lan = start(|_| {}).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let form = Form::curl().file(&format!("p{i}.gcode"), None, &gcode(i + 1));
        let job: serde_json::Value = lan.upload("/api/jobs", form).await.json().await.unwrap();
        ids.push(job["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut path = "/api/jobs?limit=2".to_owned();
    loop {
        let page = lan.get_json(&path).await;
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 2);
        seen.extend(jobs.iter().map(|j| j["id"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/api/jobs?limit=2&before={before}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let filtered = lan.get_json("/api/jobs?status=completed").await;
    assert_eq!(filtered["jobs"], serde_json::json!([]));
    for bad in [
        "/api/jobs?limit=0",
        "/api/jobs?limit=101",
        "/api/jobs?status=done",
    ] {
        let response = lan.http.get(lan.url(bad)).header("X-Api-Key", KEY).send();
        assert_eq!(error_of(response.await.unwrap()).await.0, 400, "{bad}");
    }
    lan.stop().await;
}

/// `ROUTES` (which the OpenAPI test checks against the document) must be what the router
/// serves: each answers with something other than "no such route".
#[tokio::test]
async fn every_listed_route_is_served() {
    let lan = start(|c| c.web.rate_limit_per_minute = 0).await;
    for (method, path) in ROUTES {
        let url = lan.url(&path.replace("{id}", "1"));
        let request = match *method {
            "GET" => lan.http.get(url),
            _ => lan.http.post(url),
        };
        let response = request.header("X-Api-Key", KEY).send().await.unwrap();
        let status = response.status().as_u16();
        assert_ne!(status, 405, "{method} {path}");
        if status == 404 {
            let (_, code, _, _) = error_of(response).await;
            assert_ne!(code, "not_found", "{method} {path} is not routed");
        }
    }
    lan.stop().await;
}

#[tokio::test]
async fn an_uploaded_gcode_job_carries_our_estimate_and_one_too_big_for_every_printer_is_422() {
    let lan = start(|_| {}).await;
    let part = b"G28\nG90\nM83\nG1 Z0.2 F600\nG1 X10 Y10 F3000\nG1 X60 Y10 E2.0 F1200\nG1 X60 Y60 E2.0\nG1 X10 Y60 E2.0\nG1 X10 Y10 E2.0\n";
    let form = Form::curl()
        .text("material", "PETG")
        .file("square.gcode", None, part);
    let response = lan.upload("/api/jobs", form).await;
    assert_eq!(response.status(), 201);
    let job: serde_json::Value = response.json().await.unwrap();
    assert!(job["estimated_time"].as_u64().unwrap() > 0, "{job}");
    assert!(job["estimated_cost"].as_f64().unwrap() > 0.0, "{job}");

    // The harness printer's build volume is 250 × 210 × 210 mm: this part is 400 mm wide.
    let huge = b"G28\nG90\nM83\nG1 Z0.2 F600\nG1 X0 Y10 F3000\nG1 X400 Y10 E20.0 F1200\n";
    let form = Form::curl().file("huge.gcode", None, huge);
    let (status, code, message, _) = error_of(lan.upload("/api/jobs", form).await).await;
    assert_eq!((status, code.as_str()), (422, "does_not_fit"), "{message}");
    assert!(
        lan.stored_files()
            .iter()
            .all(|f| !f.ends_with("huge.gcode")),
        "nothing left behind"
    );
    lan.stop().await;
}

#[tokio::test]
async fn estimate_answers_time_filament_cost_and_fit_and_stores_nothing() {
    let lan = start(|_| {}).await;
    let part =
        b"G28\nG90\nM83\nG1 Z0.2 F600\nG1 X10 Y10 F3000\nG1 X60 Y10 E100.0 F1200\nG1 X60 Y60 E100.0\n";
    let form = Form::curl()
        .text("material", "PETG")
        .text("quality", "fine")
        .file("square.gcode", None, part);
    let response = lan.upload("/api/estimate", form).await;
    assert_eq!(response.status(), 200);
    let estimate: serde_json::Value = response.json().await.unwrap();
    assert!(
        estimate["estimated_time"].as_u64().unwrap() > 0,
        "{estimate}"
    );
    assert!(
        (estimate["filament_mm"].as_f64().unwrap() - 200.0).abs() < 0.01,
        "{estimate}"
    );
    assert!(
        estimate["estimated_cost"].as_f64().unwrap() > 0.0,
        "{estimate}"
    );
    assert_eq!(estimate["fits"], true);
    assert!(lan.stored_files().is_empty(), "an estimate stores nothing");

    let huge = b"G28\nG90\nM83\nG1 Z0.2 F600\nG1 X0 Y10 F3000\nG1 X400 Y10 E20.0 F1200\n";
    let form = Form::curl().file("huge.gcode", None, huge);
    let estimate: serde_json::Value = lan
        .upload("/api/estimate", form)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(estimate["fits"], false);
    assert!(
        estimate["fits_error"].as_str().unwrap().contains("250.0"),
        "{estimate}"
    );

    let form = Form::curl()
        .text("material", "unobtainium")
        .file("a.gcode", None, part);
    let (status, _, message, _) = error_of(lan.upload("/api/estimate", form).await).await;
    assert_eq!(status, 400, "{message}");
    lan.stop().await;
}
