//! What the gateway stored about a job or the printer, read back from its event log in order:
//! what a test checks after the fact.

use fluxprint_gateway::domain::{JobId, JobStatus, PrinterState};
use fluxprint_gateway::events::EventKind;
use fluxprint_gateway::gateway::Gateway;

/// Every stored event so far.
async fn events(gw: &Gateway) -> Vec<EventKind> {
    let events = gw.events_after(0, 10_000).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

/// The job's status events, in order.
pub async fn job_statuses(gw: &Gateway, id: JobId) -> Vec<JobStatus> {
    (events(gw).await.into_iter())
        .filter_map(|e| match e {
            EventKind::JobStatus(job) if job.id == id => Some(job.status),
            _ => None,
        })
        .collect()
}

/// Progress values the job's status events carried, in order.
pub async fn progress_events(gw: &Gateway, id: JobId) -> Vec<u8> {
    (job_statuses(gw, id).await.into_iter())
        .filter_map(|s| match s {
            JobStatus::Printing { progress } => Some(progress.get()),
            _ => None,
        })
        .collect()
}

/// The states of the `printer:state` events stored so far, in order.
pub async fn printer_states(gw: &Gateway) -> Vec<PrinterState> {
    (events(gw).await.into_iter())
        .filter_map(|e| match e {
            EventKind::PrinterState { state, .. } => Some(state),
            _ => None,
        })
        .collect()
}

/// Fails with `why` if the printer was ever shown printing someone else's print.
pub async fn assert_never_external(gw: &Gateway, why: &str) {
    let states = printer_states(gw).await;
    let external = (states.iter()).any(|s| matches!(s, PrinterState::PrintingExternal { .. }));
    assert!(!external, "{why}, not external: {states:?}");
}

/// Rows in the store's files table. No `Gateway` read lists files: this checks the table
/// itself (wiring access), to prove a refused upload left no record.
pub async fn file_rows(running: &fluxprint_gateway::app::Running) -> i64 {
    running
        .store()
        .call(|db| {
            Ok(db
                .conn()
                .query_row("SELECT count(*) FROM files", [], |r| r.get(0))?)
        })
        .await
        .unwrap()
}
