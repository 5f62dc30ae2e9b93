//! The status page in a real browser: headless Chromium (driven through chromedriver) opens
//! the gateway's page, uploads a G-code file through the form, and watches the job go from
//! "Queued" through "Printing N%" to "Printed" on a simulated printer, live, without a reload;
//! and a print started outside the gateway shows as external with its file and progress.

use crate::common;

use std::sync::Arc;

use common::browser::Browser;
use common::sim::SimDrivers;
use common::*;
use fantoccini::Locator;
use fluxprint_gateway::app;
use fluxprint_gateway::config::{DriverConfig, Secret};
use fluxprint_gateway::domain::Percent;
use fluxprint_gateway::printer::driver::DriverReport;
use fluxprint_gateway::printer::sim::SimConfig;
use tokio_util::sync::CancellationToken;

const KEY: &str = "page-test-key-0123456789";

/// The thumbnail blocks of the PrusaSlicer fixture (16x16 and 220x124 PNGs).
fn thumbnail_blocks() -> String {
    let text = std::fs::read_to_string(gcode::fixture("thumb.gcode")).unwrap();
    let end = text.rfind("; thumbnail end\n").unwrap() + "; thumbnail end\n".len();
    text[..end].to_owned()
}

/// A part of many short moves after heating, slow enough (a few seconds at this speed-up)
/// for the page to show the print in progress; it carries the fixture's thumbnails.
fn part(moves: usize) -> String {
    let mut g = thumbnail_blocks();
    g.push_str("; page test part\nM104 S210\nM140 S60\nG28\nG90\nM83\n");
    for i in 0..moves {
        let a = i as f64 * 0.05;
        g.push_str(&format!(
            "G1 X{:.3} Y{:.3} E0.02 F900\n",
            100.0 + 20.0 * a.cos(),
            100.0 + 20.0 * a.sin()
        ));
    }
    g.push_str("M104 S0\nM140 S0\nM84\n");
    g
}

fn slow_sim() -> SimConfig {
    SimConfig {
        speed_up: 5.0,
        ..SimConfig::default()
    }
}

/// Every badge text a job's history row shows, recorded in the page as it changes, so that a
/// short-lived state is seen even between two polls.
const RECORD_BADGES: &str = r##"
window.seenBadges = {};
const record = () => {
  for (const row of document.querySelectorAll("#history [data-job-id]")) {
    const text = row.querySelector('[data-field="badge"]').textContent;
    const seen = (window.seenBadges[row.dataset.jobId] ??= []);
    if (seen[seen.length - 1] !== text) seen.push(text);
  }
};
new MutationObserver(record).observe(document.getElementById("history"),
  { subtree: true, childList: true, characterData: true });
record();
window.seenRemaining = [];
new MutationObserver(() => {
  const label = document.querySelector('[data-printer="mk3s"] [data-field="remaining-label"]');
  const text = label ? label.textContent : "";
  if (text && window.seenRemaining[window.seenRemaining.length - 1] !== text) window.seenRemaining.push(text);
}).observe(document.getElementById("printers"), { subtree: true, childList: true, characterData: true });
return null;
"##;

async fn upload_through_the_form(browser: &Browser, file: &std::path::Path) {
    let c = &browser.client;
    c.find(Locator::Id("api-key"))
        .await
        .unwrap()
        .send_keys(KEY)
        .await
        .unwrap();
    c.find(Locator::Css("#key-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let input = c.find(Locator::Id("upload-file")).await.unwrap();
    input.send_keys(&file.display().to_string()).await.unwrap();
    let material = c.find(Locator::Id("upload-material")).await.unwrap();
    material.select_by_value("PETG").await.unwrap();
    c.find(Locator::Id("upload-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn assert_seen_in_order(seen: &[String]) {
    let printing = seen.iter().position(|t| {
        t.strip_prefix("Printing ")
            .and_then(|p| p.strip_suffix('%'))
            .and_then(|p| p.parse::<u8>().ok())
            .is_some_and(|p| p > 0)
    });
    let printed = seen.iter().position(|t| t == "Printed");
    assert!(
        seen.first()
            .is_some_and(|t| t == "Queued" || t.starts_with("Printing")),
        "the job did not start as Queued or Printing: {seen:?}"
    );
    assert!(
        printing.is_some() && printing < printed,
        "the page did not show \"Printing N%\" (N > 0) before \"Printed\": {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|t| t == "Queued" || t.starts_with("Printing") || t == "Printed"),
        "unexpected states: {seen:?}"
    );
}

async fn check_screenshot(browser: &Browser) {
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(png.len() > 1000, "a screenshot of {} bytes", png.len());
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("page.png");
    std::fs::write(&path, png).expect("save the screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_on_the_page_shows_queued_printing_and_printed_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim_printer = printer("mk3s", [250.0, 210.0, 210.0], false);
    sim_printer.driver = DriverConfig::Simulated(slow_sim());
    let sims = SimDrivers::new(dir.path());
    let mut config = config(dir.path(), vec![sim_printer]);
    config.web.api_key = Some(Secret::new(KEY));
    config.web.public_status = true;
    // The test keeps the simulated devices: dropping them would unplug the printer.
    let running = app::start(config, Arc::new(sims.clone()), CancellationToken::new())
        .await
        .unwrap();
    let addr = running.web_addr();
    let file = dir.path().join("bracket.gcode");
    std::fs::write(&file, part(300)).unwrap();

    let browser = Browser::start().await;
    let c = &browser.client;
    c.set_window_size(1280, 1500).await.unwrap();
    c.goto(&format!("http://{addr}/")).await.unwrap();
    let printers = "return document.querySelectorAll('[data-printer]').length > 0 && \
                    document.getElementById('connection').textContent === 'Live' ? 'live' : null;";
    browser.wait_for_text("the printer, live", printers).await;
    c.execute(RECORD_BADGES, vec![]).await.unwrap();

    upload_through_the_form(&browser, &file).await;
    let toast = browser
        .wait_for_text(
            "the toast \"Print queued! Job #…\"",
            "return [...document.querySelectorAll('.toast')].map(t => t.textContent)\
               .find(t => t.startsWith('Print queued! Job #')) ?? null;",
        )
        .await;
    let job: u64 = toast
        .trim_start_matches("Print queued! Job #")
        .trim_end_matches('×')
        .parse()
        .unwrap_or_else(|_| panic!("no job number in the toast {toast:?}"));

    let printed = format!(
        "const seen = window.seenBadges['{job}'] ?? []; \
         return seen.includes('Printed') ? JSON.stringify(seen) : null;"
    );
    let seen = browser.wait_for_text("the job as Printed", &printed).await;
    let seen: Vec<String> = serde_json::from_str(&seen).unwrap();
    assert_seen_in_order(&seen);
    browser
        .wait_for_text(
            "the printer awaiting bed clear",
            "const b = document.querySelector('[data-printer=\"mk3s\"] [data-field=\"badge\"]'); \
             return b.textContent === 'Awaiting bed clear' ? b.textContent : null;",
        )
        .await;

    let thumbnail = browser
        .wait_for_text(
            "the job's thumbnail on the printer card",
            "const img = document.querySelector('[data-printer=\"mk3s\"] [data-field=\"thumbnail\"] img'); \
             return img && img.complete && img.naturalWidth > 0 \
               ? `${img.naturalWidth}x${img.naturalHeight}` : null;",
        )
        .await;
    assert_eq!(
        thumbnail, "220x124",
        "the best thumbnail, decoded by the browser"
    );
    let remaining = c
        .execute("return JSON.stringify(window.seenRemaining);", vec![])
        .await
        .unwrap();
    let remaining: Vec<String> = serde_json::from_str(remaining.as_str().unwrap()).unwrap();
    assert!(
        remaining
            .iter()
            .any(|t| t == "Remaining (from the G-code analysis)"),
        "the card never showed the server's remaining time: {remaining:?}"
    );

    let accuracy = browser
        .wait_for_text(
            "the printer's estimate accuracy after the completed job",
            "const a = document.querySelector('[data-printer=\"mk3s\"] [data-field=\"accuracy\"]'); \
             return a && !a.hidden && a.textContent.includes('1 job') ? a.textContent : null;",
        )
        .await;
    assert!(accuracy.contains('×'), "{accuracy}");

    check_screenshot(&browser).await;
    browser.close().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_print_started_outside_the_gateway_shows_as_external_with_its_file_and_progress() {
    let dir = tempfile::tempdir().unwrap();
    let drivers = HandDrivers::default();
    let mut config = config(dir.path(), vec![printer("octo", [200.0; 3], false)]);
    config.web.public_status = true;
    let running = app::start(config, Arc::new(drivers.clone()), CancellationToken::new())
        .await
        .unwrap();
    let end = drivers.take("octo");
    report(&end, DriverReport::Connected).await;
    let external = DriverReport::External {
        file: "benchy.gcode".into(),
        progress: Some(Percent::new(42)),
    };
    report(&end, external).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("http://{}/", running.web_addr()))
        .await
        .unwrap();
    let badge = |text: &str| {
        format!(
            "const b = document.querySelector('[data-printer=\"octo\"] [data-field=\"badge\"]'); \
             return b && b.textContent === {0} ? b.textContent : null;",
            serde_json::to_string(text).unwrap()
        )
    };
    let external = "Printing (external) 42% — benchy.gcode";
    browser.wait_for_text(external, &badge(external)).await;
    report(&end, DriverReport::Connected).await;
    let after = "Awaiting bed clear";
    browser.wait_for_text(after, &badge(after)).await;
    browser.close().await;
    running.stop().await;
}
