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
        wait_printer(&running.gateway, "idle", |s| *s == PrinterState::Idle).await;
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
        wait_job(gw, id, "printing", |s| {
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

pub async fn wait_job(
    gw: &Gateway,
    id: JobId,
    what: &str,
    ok: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    let deadline = tokio::time::Instant::now() + JOB_PATIENCE;
    let mut events = gw.subscribe();
    loop {
        let status = gw.job(id).await.unwrap().status;
        if ok(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never became {what}; it is {status:?}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
}

pub async fn wait_printer(
    gw: &Gateway,
    what: &str,
    ok: impl Fn(&PrinterState) -> bool,
) -> PrinterState {
    let mut watch = gw.printers()[0].watch();
    let seen = tokio::time::timeout(JOB_PATIENCE, watch.wait_for(|s| ok(&s.state)))
        .await
        .map(|r| r.map(|s| s.state.clone()));
    match seen {
        Ok(state) => state.expect("printer actor stopped"),
        Err(_) => panic!(
            "printer never became {what}; it is {:?}",
            watch.borrow().state
        ),
    }
}

/// Every stored event so far.
async fn events(gw: &Gateway) -> Vec<EventKind> {
    let events = gw.events_after(0, 10_000).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

/// The job's status events, in order.
pub async fn job_statuses(gw: &Gateway, id: JobId) -> Vec<JobStatus> {
    events(gw)
        .await
        .into_iter()
        .filter_map(|e| match e {
            EventKind::JobStatus(job) if job.id == id => Some(job.status),
            _ => None,
        })
        .collect()
}

/// Progress values the job's status events carried, in order.
pub async fn progress_events(gw: &Gateway, id: JobId) -> Vec<u8> {
    job_statuses(gw, id)
        .await
        .into_iter()
        .filter_map(|s| match s {
            JobStatus::Printing { progress } => Some(progress.get()),
            _ => None,
        })
        .collect()
}

/// The states of the `printer:state` events stored so far, in order.
pub async fn printer_states(gw: &Gateway) -> Vec<PrinterState> {
    events(gw)
        .await
        .into_iter()
        .filter_map(|e| match e {
            EventKind::PrinterState { state, .. } => Some(state),
            _ => None,
        })
        .collect()
}

pub async fn assert_never_external(gw: &Gateway, why: &str) {
    let states = printer_states(gw).await;
    let external = states
        .iter()
        .any(|s| matches!(s, PrinterState::PrintingExternal { .. }));
    assert!(!external, "{why}, not external: {states:?}");
}
