//! What every OctoPrint test starts from: its turn (one OctoPrint at a time, the tests share
//! two cores), a real OctoPrint driving a virtual printer, and a state directory for the
//! gateway; then a gateway over them, and jobs submitted to it.

use std::sync::Arc;

use super::*;
use fluxprint_gateway::app;
use fluxprint_gateway::printer::BuiltinDrivers;
use tempfile::TempDir;
use tokio::sync::{Mutex, MutexGuard};

/// One OctoPrint at a time.
static TURN: Mutex<()> = Mutex::const_new(());

/// One test's OctoPrint and state directory, held for as long as its turn.
pub struct Bench {
    // Fields drop in this order: the gateway's files, then OctoPrint, then the next test's turn.
    pub dir: TempDir,
    pub octo: OctoPrint,
    _turn: MutexGuard<'static, ()>,
}

impl Bench {
    /// Waits for this test's turn, then starts OctoPrint with `virtual_printer`.
    pub async fn start(virtual_printer: VirtualPrinter) -> Self {
        let turn = TURN.lock().await;
        let octo = OctoPrint::start(virtual_printer).await;
        Bench {
            dir: tempfile::tempdir().unwrap(),
            octo,
            _turn: turn,
        }
    }

    /// This OctoPrint as the gateway's printer, with the right API key.
    pub fn printer(&self) -> PrinterConfig {
        octo_printer(&self.octo, API_KEY)
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

    /// Submits a job as [`Bench::submit`] and waits until both the gateway and OctoPrint
    /// say it is printing.
    pub async fn submit_printing(&self, gw: &Gateway, name: &str, text: &str) -> JobId {
        let id = self.submit(gw, name, text).await;
        WAIT.job(gw, id, "printing", |s| {
            matches!(s, JobStatus::Printing { .. })
        })
        .await;
        self.octo.wait_state("printing", |s| s == "Printing").await;
        id
    }
}
