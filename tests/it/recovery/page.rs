//! The page offers "Resume from layer N (Z = … mm)" on an interrupted serial job, shows what
//! will happen in a confirmation, and resumes the print when confirmed (headless Chromium).

use std::sync::Arc;

use super::support::*;
use crate::common::browser::Browser;
use crate::common::sim::SimDrivers;
use crate::common::*;
use fluxprint_gateway::app;
use fluxprint_gateway::config::Secret;
use fluxprint_gateway::domain::JobStatus;
use fluxprint_gateway::printer::RecoverOptions;
use tokio_util::sync::CancellationToken;

const KEY: &str = "recovery-page-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_offers_resume_from_its_layer_and_resumes_when_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let sims = SimDrivers::new(dir.path());
    let mut config = config(dir.path(), vec![sim_printer()]);
    config.web.api_key = Some(Secret::new(KEY));
    config.web.public_status = true;
    let running = app::start(config, Arc::new(sims.clone()), CancellationToken::new())
        .await
        .unwrap();
    let gw = &running.gateway;
    let id = submit(gw, dir.path(), "part", &layered(LAYERS, MOVES)).await;
    WAIT.job(gw, id, "40 % printed", |s| s.progress().get() >= 40)
        .await;
    let device = sims.device("sim");
    unplug_until_interrupted_then_replug(gw, &device, id).await;
    let plan = gw
        .recovery_plan(id, RecoverOptions::default())
        .await
        .unwrap();
    let expected = format!(
        "Resume from layer {} (Z = {:.2} mm)",
        plan.layer.number, plan.layer.z
    );

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("http://{}/", running.web_addr()))
        .await
        .unwrap();
    let offered = browser
        .wait_for_text(
            "the resume button on the interrupted job",
            &format!(
                "const b = document.querySelector('#history [data-job-id=\"{}\"] [data-field=\"buttons\"] button'); \
                 return b ? b.textContent : null;",
                id.0
            ),
        )
        .await;
    assert_eq!(offered, expected);
    c.execute(
        &format!(
            "document.getElementById('api-key').value = '{KEY}'; \
             document.getElementById('key-form').requestSubmit(); \
             document.querySelector('#history [data-job-id=\"{}\"] [data-field=\"buttons\"] button').click();",
            id.0
        ),
        vec![],
    )
    .await
    .unwrap();
    let title = browser
        .wait_for_text(
            "the confirmation",
            "const d = document.getElementById('recover-dialog'); \
             return d.open ? d.querySelector('h2').textContent + ' | ' + \
               document.getElementById('recover-dialog-what').textContent + ' | ' + \
               document.getElementById('recover-dialog-prologue').textContent : null;",
        )
        .await;
    assert!(
        title.contains(&format!("from layer {}", plan.layer.number)),
        "{title}"
    );
    assert!(title.contains("homes X and Y only"), "{title}");
    assert!(title.contains("G28 X Y"), "{title}");
    assert_eq!(
        gw.job(id).await.unwrap().status.as_str(),
        "interrupted",
        "nothing before the confirmation"
    );
    c.execute(
        "document.getElementById('recover-dialog-confirm').click();",
        vec![],
    )
    .await
    .unwrap();
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    browser.close().await;
    running.stop().await;
}
