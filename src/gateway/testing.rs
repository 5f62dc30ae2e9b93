//! A gateway for unit tests of the doors: a real job store in a temporary directory, no
//! printers, and the one write the doors have no command for (many events in one commit).

use super::Gateway;
use crate::jobs::{JobStore, NewJob, StoreThread};

/// A gateway on a fresh store; the store thread and directory live as long as this does.
pub(crate) struct StandaloneGateway {
    pub gateway: Gateway,
    store: JobStore,
    _thread: StoreThread,
    _dir: tempfile::TempDir,
}

impl StandaloneGateway {
    pub(crate) fn without_printers() -> StandaloneGateway {
        let dir = tempfile::tempdir().unwrap();
        let (store, thread) = JobStore::open(dir.path()).unwrap();
        StandaloneGateway {
            gateway: Gateway::new(store.clone(), Vec::new()),
            store,
            _thread: thread,
            _dir: dir,
        }
    }

    /// Queues `n` jobs in one transaction: `n` `job:queued` events in one commit.
    pub(crate) async fn queue_in_one_commit(&self, n: usize) {
        self.store
            .call(move |db| {
                db.write(|w| {
                    for i in 0..n {
                        w.insert_job(NewJob {
                            file_name: format!("part-{i}.gcode"),
                            ..NewJob::default()
                        })?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
}
