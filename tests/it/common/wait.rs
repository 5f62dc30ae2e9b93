//! Waiting for a job or a printer to reach a state, with the patience each area chooses (a
//! print through a real peer takes longer than one on the simulator). A wait that runs out
//! fails the test naming what was awaited and what was seen instead.

use std::time::Duration;

use fluxprint_gateway::domain::{JobId, JobStatus, PrinterState};
use fluxprint_gateway::gateway::Gateway;

use super::stored::printer_states;

/// How long a test waits for a job and for the printer before it fails.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub job: Duration,
    pub printer: Duration,
}

impl Patience {
    /// The same patience for jobs and for the printer.
    pub const fn of(both: Duration) -> Patience {
        Patience {
            job: both,
            printer: both,
        }
    }

    /// Waits until job `id`'s status satisfies `ok` (looked at again on every stored event,
    /// and at least every 200 ms); returns that status.
    pub async fn job(
        &self,
        gw: &Gateway,
        id: JobId,
        what: &str,
        ok: impl Fn(&JobStatus) -> bool,
    ) -> JobStatus {
        let deadline = tokio::time::Instant::now() + self.job;
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

    /// Waits until the (first) printer's state satisfies `ok`; returns that state. On
    /// timeout the message names the state seen last and every state stored.
    pub async fn printer(
        &self,
        gw: &Gateway,
        what: &str,
        ok: impl Fn(&PrinterState) -> bool,
    ) -> PrinterState {
        let mut watch = gw.printers()[0].watch();
        let seen = tokio::time::timeout(self.printer, watch.wait_for(|s| ok(&s.state)))
            .await
            .map(|r| r.map(|s| s.state.clone()));
        match seen {
            Ok(state) => state.expect("printer actor stopped"),
            Err(_) => panic!(
                "the printer never became {what}; it is {:?} after {:?}",
                watch.borrow().state,
                printer_states(gw).await
            ),
        }
    }
}
