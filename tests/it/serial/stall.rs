//! Stalls against the built-in simulator: a lost `ok`, with and without keepalives, a
//! swallowed line ended by `wait`, and a heat-up and a dwell longer than any deadline. In
//! every case the firmware's record of accepted commands equals the file, each line once.

use super::*;

/// A run of short moves with the fault somewhere in the middle.
fn moves(head: &str, count: usize) -> String {
    let mut g = format!("G28\nG90\n{head}");
    for i in 0..count {
        g.push_str(&format!(
            "G1 X{:.1} Y10 F6000\n",
            10.0 + (i % 20) as f64 * 0.5
        ));
    }
    g
}

/// Prints `text` on a simulated printer and checks the record equals the file.
async fn prints_once(p: PrinterConfig, text: &str) -> SimDrivers {
    let r = rig(vec![p]).await;
    let gw = &r.running.gateway;
    let id = submit_text(gw, r.dir.path(), "stall", text).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    assert_eq!(
        job_commands(r.sims.device("sim").accepted_commands()),
        expected(text),
        "every line reached the firmware once, in order"
    );
    let sims = r.sims.clone();
    r.running.stop().await;
    sims
}

/// Stalls counted, and how many of them were over within `seconds`.
fn stalls_within(sims: &SimDrivers, seconds: f64) -> (u64, u64) {
    let stats = sims.stats("sim");
    let durations = stats.stall_durations();
    let within = durations
        .buckets
        .iter()
        .filter(|(bound, _)| *bound <= seconds)
        .map(|(_, n)| n)
        .sum();
    (stats.snapshot().stalls, within)
}

#[tokio::test]
async fn a_lost_ok_with_keepalives_set_by_m113_is_recovered_without_the_long_timeout() {
    let sim = SimConfig {
        lose_oks: vec![40],
        ..fast_sim()
    };
    let mut p = sim_printer("sim", sim, FlowControlMode::Windowed);
    p.serial.ok_timeout_s = 120;
    let sims = prints_once(p, &moves("M113 S1\n", 150)).await;
    let (stalls, within) = stalls_within(&sims, 10.0);
    assert_eq!(stalls, 1, "one lost ok, one stall");
    assert_eq!(
        within, 1,
        "settled by the learned deadline, not the 120 s timeout"
    );
}

#[tokio::test]
async fn a_lost_ok_without_keepalives_is_recovered_without_the_long_timeout() {
    let sim = SimConfig {
        lose_oks: vec![40],
        ..fast_sim()
    };
    let mut p = sim_printer("sim", sim, FlowControlMode::PingPong);
    p.serial.ok_timeout_s = 120;
    let sims = prints_once(p, &moves("", 150)).await;
    let (stalls, within) = stalls_within(&sims, 10.0);
    assert_eq!(stalls, 1);
    assert_eq!(within, 1, "a move is no long command");
    assert_eq!(sims.stats("sim").snapshot().timeouts, 1);
}

#[tokio::test]
async fn a_swallowed_line_is_sent_again_as_soon_as_the_firmware_says_wait() {
    let sim = SimConfig {
        lose_lines: vec![40],
        idle_wait_ms: Some(300),
        ..fast_sim()
    };
    let mut p = sim_printer("sim", sim, FlowControlMode::PingPong);
    p.serial.ok_timeout_s = 120;
    let sims = prints_once(p, &moves("", 150)).await;
    let stats = sims.stats("sim").snapshot();
    assert_eq!(stats.stalls, 1);
    assert_eq!(
        stats.timeouts, 0,
        "the wait ended the stall before any deadline"
    );
}

#[tokio::test]
async fn a_heat_up_and_a_dwell_longer_than_any_deadline_are_never_taken_for_stalls() {
    // Real time: the heat-up takes about 4 s and the dwell 4 s, both longer than the 3 s
    // `ok_timeout_s`; Marlin's keepalives (every 2 s) and heat-up lines keep them alive.
    let sim = SimConfig {
        speed_up: 1.0,
        line_latency_ms: 0,
        hotend_heat_rate_c_per_s: 5.0,
        ..SimConfig::default()
    };
    let mut p = sim_printer("sim", sim, FlowControlMode::Windowed);
    p.serial.ok_timeout_s = 3;
    let sims = prints_once(p, &moves("M109 S45\nG4 P4000\n", 20)).await;
    let stats = sims.stats("sim").snapshot();
    assert_eq!((stats.stalls, stats.timeouts), (0, 0), "{stats:?}");
}
