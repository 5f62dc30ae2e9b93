//! The gateway as the driver benchmarks run it: started with the built-in drivers and its log
//! turned down to warnings, and the resident memory a number of its printers add once every
//! one of them is connected. Expects the including benchmark to have the test harness as
//! `common` and `stats.rs` as `stats`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fluxprint_gateway::app;
use fluxprint_gateway::config::PrinterConfig;
use fluxprint_gateway::domain::PrinterState;
use fluxprint_gateway::printer::BuiltinDrivers;
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::stats::rss_kib;

/// Starts a gateway keeping its state in `state`, with the built-in drivers for `printers`.
pub async fn start(state: &Path, printers: Vec<PrinterConfig>) -> app::Running {
    let drivers = BuiltinDrivers {
        state_dir: state.to_path_buf(),
    };
    let mut config = common::config(state, printers);
    config.gateway.log_level = "warn".into();
    app::start(config, Arc::new(drivers), CancellationToken::new())
        .await
        .expect("start the gateway")
}

/// This process's resident memory (KiB) before a gateway with `printers` starts, and once
/// every printer is idle (within `patience`) and reported for `settle`; the gateway is
/// stopped again.
pub async fn resident_with(
    printers: Vec<PrinterConfig>,
    patience: Duration,
    settle: Duration,
) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let baseline = rss_kib();
    let running = start(dir.path(), printers).await;
    for handle in running.gateway.printers() {
        let mut watch = handle.watch();
        tokio::time::timeout(patience, watch.wait_for(|s| s.state == PrinterState::Idle))
            .await
            .expect("every printer connects")
            .unwrap();
    }
    tokio::time::sleep(settle).await;
    let connected = rss_kib();
    running.stop().await;
    (baseline, connected)
}
