//! FluxPrint Gateway: the printer-side half of FluxPrint.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - `app`      wiring: store, recovery, printer actors, shutdown in order.
//! - `cloud`    the MQTT cloud link (mTLS), commands, store-and-forward events, downloads.
//! - `config`   raw TOML/env config → validated typed `Config`.
//! - `domain`   pure types shared by every module: ids, job and printer states.
//! - `events`   gateway events, stored in the outbox then fanned out.
//! - `gateway`  the one command surface (and the only way to the store) for both doors and
//!   the slicer: commands, the intake pipeline, typed reads, events.
//! - `gcode`    G-code/STL analysis, slicer metadata, thumbnails, materials, estimates.
//! - `jobs`     the SQLite job store thread, schema, queue, lifecycle, outbox.
//! - `platform` systemd notify/watchdog, logging, serial port listing.
//! - `printer`  per-printer actors and the driver seam.
pub mod app;
pub mod cloud;
pub mod config;
pub mod domain;
pub mod events;
pub mod gateway;
pub mod jobs;
pub mod platform;
pub mod printer;
pub mod slicer;
pub mod update;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::platform::notify::{self, Notifier};
use crate::printer::driver::DriverFactory;

/// Runs the gateway with the built-in drivers until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let drivers = printer::BuiltinDrivers {
        state_dir: config.gateway.state_dir.clone(),
    };
    run_with_drivers(config, Arc::new(drivers), shutdown).await
}

/// Runs the gateway with the given drivers (tests bring their own) until `shutdown`.
pub async fn run_with_drivers(
    config: Config,
    drivers: Arc<dyn DriverFactory>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let notifier = Notifier::from_env()?;
    let printers = config.printers.len();
    let state_dir = config.gateway.state_dir.clone();
    let running = app::start(config, drivers, shutdown.clone()).await?;
    let gateway = running.gateway.clone();
    let link = running.cloud.as_ref().map(|cloud| cloud.state.clone());
    let token = shutdown.child_token();
    running.tasks().spawn(async move {
        update::report_when_healthy(&state_dir, link, || gateway.is_alive(), token).await
    });
    notify_or_log(notifier.ready());
    notify_or_log(notifier.status(&format!("running, {printers} printer(s)")));
    if let Some(interval) = notify::watchdog_interval() {
        let gateway = running.gateway.clone();
        running.tasks().spawn(notify::run_watchdog(
            notifier.clone(),
            interval,
            move || gateway.is_alive(),
            shutdown.child_token(),
        ));
    }
    shutdown.cancelled().await;
    notify_or_log(notifier.stopping());
    running.stop().await;
    Ok(())
}

fn notify_or_log(result: Result<(), notify::NotifyError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "systemd notification");
    }
}
pub mod demo;
pub mod files;
pub mod gcode;
pub mod web;
pub mod wire;
