//! The store thread's cost of one cloud `job.submit`, alone: 1,000 submissions sent to the
//! store at once (grouped into batches as a burst is), each inserting a job in stage
//! `fetching` with its `job:queued` event and storing the command's reply, as `cloud::submit`
//! does. Prints the wall time per submission; the repeatable figure is the store thread's
//! instruction count under callgrind:
//!
//!     cargo bench --bench store --no-run
//!     valgrind --tool=callgrind --separate-threads=yes target/release/deps/store-<hash> --bench
//!     grep summary callgrind.out.*-0*     # the job-store thread's file has the largest

use std::time::Instant;

use fluxprint_gateway::domain::QueuedStage;
use fluxprint_gateway::jobs::{JobSource, JobStore, NewJob};
use fluxprint_gateway::wire::JobJson;

const SUBMISSIONS: usize = 1_000;

fn submission(i: usize) -> NewJob {
    NewJob {
        cloud_job_id: Some(format!("job-{i}")),
        file_name: "tiny.gcode".into(),
        stage: Some(QueuedStage::Fetching),
        source: Some(JobSource::Cloud),
        ..NewJob::default()
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (store, thread) = JobStore::open(dir.path()).unwrap();
        let started = Instant::now();
        let calls: Vec<_> = (0..SUBMISSIONS)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .call(move |db| {
                            db.write(|w| {
                                let job = w.insert_job(submission(i))?;
                                let reply = serde_json::to_string(&JobJson::from(&job))
                                    .expect("a job always serialises");
                                w.remember_command(&format!("cmd-{i}"), &reply)
                            })
                        })
                        .await
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let elapsed = started.elapsed();
        println!(
            "store: {SUBMISSIONS} job.submit writes in {elapsed:?} = {:.1} µs each (batched, fsync per batch)",
            elapsed.as_secs_f64() * 1e6 / SUBMISSIONS as f64
        );
        drop(store);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .unwrap();
    });
}
