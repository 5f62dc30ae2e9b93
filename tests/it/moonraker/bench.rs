//! What every Moonraker test starts from: its turn (the tests share one peer, one printer),
//! a ready Klipper with no print on it, and a state directory for the gateway; then a
//! gateway over them, jobs submitted to it, and waits on what it and Klipper say.

use std::sync::Arc;

use super::*;
use fluxprint_gateway::app;
use fluxprint_gateway::printer::BuiltinDrivers;
use tempfile::TempDir;
use tokio::sync::{Mutex, MutexGuard};

/// One test at a time on the shared printer.
static TURN: Mutex<()> = Mutex::const_new(());

/// One test's turn on the peer and its gateway's state directory.
pub struct Bench {
    pub dir: TempDir,
    pub peer: &'static Peer,
    _turn: MutexGuard<'static, ()>,
}

impl Bench {
    /// Waits for this test's turn, then for Klipper to be ready and idle.
    pub async fn start() -> Self {
        let turn = TURN.lock().await;
        // Starting the peer blocks for seconds, once per test binary.
        let peer = tokio::task::spawn_blocking(Peer::shared).await.unwrap();
        peer.make_idle().await;
        Bench {
            dir: tempfile::tempdir().unwrap(),
            peer,
            _turn: turn,
        }
    }

    /// The peer as the gateway's printer `klipper`, with its API key.
    pub fn printer(&self) -> PrinterConfig {
        moonraker_printer(self.peer, Some(&self.peer.api_key), false)
    }

    /// A gateway over the bench's state directory with `printer` as its only printer.
    pub async fn gateway(&self, printer: PrinterConfig) -> app::Running {
        let drivers = BuiltinDrivers {
            state_dir: self.dir.path().to_path_buf(),
        };
        app::start(
            config(self.dir.path(), vec![printer]),
            Arc::new(drivers),
            CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    /// A gateway as [`Bench::gateway`], once its printer has connected and is idle.
    pub async fn idle_gateway(&self, printer: PrinterConfig) -> app::Running {
        let running = self.gateway(printer).await;
        WAIT.printer(&running.gateway, "idle", |s| *s == PrinterState::Idle)
            .await;
        running
    }

    /// Submits `text` as the G-code file of a new job called `name`.
    pub async fn submit(&self, gw: &Gateway, name: &str, text: &str) -> JobId {
        let dir = self.dir.path();
        let new = job_with_file(gw, dir, name).await;
        std::fs::write(dir.join(format!("{name}.gcode")), text).unwrap();
        gw.submit(new).await.unwrap().id
    }

    /// Submits a job as [`Bench::submit`] and waits until both the gateway and Klipper
    /// say it is printing.
    pub async fn submit_printing(&self, gw: &Gateway, name: &str, text: &str) -> JobId {
        let id = self.submit(gw, name, text).await;
        WAIT.job(gw, id, "printing", |s| {
            matches!(s, JobStatus::Printing { .. })
        })
        .await;
        self.peer.wait_print("printing", |s| s == "printing").await;
        id
    }
}

pub fn moonraker_printer(peer: &Peer, key: Option<&str>, delete_after_job: bool) -> PrinterConfig {
    let mut p = printer("klipper", [250.0, 210.0, 200.0], false);
    p.driver = DriverConfig::Moonraker {
        url: peer.url.clone(),
        api_key: key.map(Secret::new),
        delete_after_job,
        ca_file: None,
    };
    p
}
