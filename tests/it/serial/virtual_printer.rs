//! The serial driver against OctoPrint's VirtualPrinter on a pty, with OctoPrint's default
//! simulated errors (lines 100-115: a resend, a resend whose resent line is swallowed, a
//! missing line number answered by an `Error:` alone, a checksum mismatch).

use super::*;

use common::virtual_printer::{PortDrivers, VirtualPrinterPeer};

/// `count` moves of 0.5 mm, back and forth.
pub fn half_millimetre_moves(count: usize) -> String {
    let mut g = String::from("G90\n");
    for i in 0..count {
        g.push_str(&format!(
            "G1 X{:.1} Y10 F6000\n",
            10.0 + (i % 2) as f64 * 0.5
        ));
    }
    g
}

#[tokio::test]
async fn a_3000_line_job_survives_the_default_simulated_errors_with_every_line_once() {
    let peer = VirtualPrinterPeer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut p = printer("vp", [250.0, 210.0, 210.0], false);
    p.driver = DriverConfig::Serial {
        port: peer.port.clone(),
        baud: 115_200,
    };
    let drivers = PortDrivers::default();
    let running = app::start(
        config(dir.path(), vec![p]),
        Arc::new(drivers.clone()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let gw = &running.gateway;
    let text = half_millimetre_moves(2_999);
    let id = submit_text(gw, dir.path(), "moves", &text).await;
    WAIT.job(gw, id, "completed", |s| *s == JobStatus::Completed)
        .await;
    running.stop().await;

    let executed = peer.executed();
    let numbers: Vec<u32> = executed.iter().map(|(n, _)| *n).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "a line ran twice or out of order"
    );
    // VirtualPrinter's `resend_with_timeout` swallows the resent line 105 yet counts it as
    // received, so no host can have it run: when 105 was a move, it is the one allowed gap.
    let mut moves: Vec<String> = expected(&text)
        .into_iter()
        .filter(|c| c.starts_with("G1"))
        .collect();
    if let Some(after) = numbers.iter().position(|&n| n == 106)
        && after > 0
        && numbers[after - 1] == 104
    {
        moves.remove(after);
    }
    let ran: Vec<String> = executed.into_iter().map(|(_, c)| c).collect();
    assert!(ran == moves, "the moves run differ from the file's");
    let stats = drivers.stats.snapshot();
    assert!(
        stats.stalls >= 1,
        "the swallowed line is a stall: {stats:?}"
    );
}
