//! Group commit in the store thread: requests waiting together share one transaction (one
//! fsync), each write keeps its own atomicity, and events still leave in `seq` order, only
//! after the commit.

use std::path::{Path, PathBuf};

use fluxprint_gateway::events::{Event, EventKind};
use fluxprint_gateway::jobs::{Job, JobStore, NewJob, StoreError};
use tokio::sync::{broadcast, oneshot};

fn new_job(name: &str) -> NewJob {
    NewJob {
        file_name: format!("{name}.gcode"),
        ..NewJob::default()
    }
}

/// Jobs committed in the database file, as a second connection sees them.
fn committed_jobs(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT count(*) FROM print_jobs", [], |r| r.get(0))
        .unwrap()
}

/// Occupies the store thread until the returned sender is used (or dropped).
async fn hold_store_thread(store: &JobStore) -> std::sync::mpsc::Sender<()> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = oneshot::channel();
    let store = store.clone();
    tokio::spawn(async move {
        store
            .call(move |_| {
                let _ = started.send(());
                let _ = held.recv();
                Ok(())
            })
            .await
    });
    running.await.unwrap();
    release
}

/// Submits a job and reports how many jobs a second connection saw committed meanwhile.
async fn submit_and_look(
    store: &JobStore,
    name: String,
    db: PathBuf,
) -> Result<(Job, i64), StoreError> {
    store
        .call(move |db_| {
            let job = db_.write(|w| w.insert_job(new_job(&name)))?;
            Ok((job, committed_jobs(&db)))
        })
        .await
}

/// A write that inserts a job and then fails: it must leave nothing behind.
async fn submit_and_fail(store: &JobStore) -> Result<Job, StoreError> {
    store
        .call(|db| {
            db.write(|w| {
                w.insert_job(new_job("doomed"))?;
                Err(StoreError::Decode("refused on purpose".into()))
            })
        })
        .await
}

fn queued_seqs(events: &mut broadcast::Receiver<Event>, n: usize) -> Vec<(u64, String)> {
    (0..n)
        .map(
            |_| match events.try_recv().expect("an event per committed job") {
                Event {
                    seq,
                    kind: EventKind::JobQueued(job),
                    ..
                } => (seq, job.file_name),
                other => panic!("unexpected event {other:?}"),
            },
        )
        .collect()
}

fn assert_contiguous(seqs: &[u64]) {
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "seqs {seqs:?} are not contiguous");
    }
}

#[tokio::test]
async fn waiting_writes_commit_together_and_a_failing_one_is_rolled_back_alone() {
    const WRITERS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = JobStore::open(dir.path()).unwrap();
    let path = dir.path().join("gateway.db");
    let mut events = store.subscribe();
    let release = hold_store_thread(&store).await;
    let mut writers = Vec::new();
    for i in 0..WRITERS {
        let (store, path) = (store.clone(), path.clone());
        writers.push(tokio::spawn(async move {
            submit_and_look(&store, format!("job-{i}"), path).await
        }));
    }
    let failing = tokio::spawn({
        let store = store.clone();
        async move { submit_and_fail(&store).await }
    });
    // Every request is waiting in the store's channel before the thread takes the next batch.
    while store.queued() < WRITERS + 1 {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();

    let mut names = Vec::new();
    for writer in writers {
        let (job, seen) = writer.await.unwrap().unwrap();
        assert_eq!(
            seen, 0,
            "{} was answered while a second connection saw {seen} jobs: the batch committed piecemeal",
            job.file_name
        );
        names.push(job.file_name);
    }
    let err = failing.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Decode(_)), "{err}");
    assert_eq!(
        committed_jobs(&path),
        WRITERS as i64,
        "the failed write left no job"
    );

    let broadcast = queued_seqs(&mut events, WRITERS);
    assert!(events.try_recv().is_err(), "the failed write sent no event");
    let seqs: Vec<u64> = broadcast.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs.first(), Some(&1));
    assert_contiguous(&seqs);
    let mut broadcast_names: Vec<String> = broadcast.into_iter().map(|(_, name)| name).collect();
    broadcast_names.sort();
    names.sort();
    assert_eq!(broadcast_names, names);
    let stored = store.call(|db| db.events_after(0, 1000)).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    drop(store);
    thread.join();
}

#[tokio::test]
async fn many_concurrent_requests_are_all_committed_with_events_in_seq_order() {
    const REQUESTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = JobStore::open(dir.path()).unwrap();
    let mut events = store.subscribe();
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("job-{i}");
            store.call(move |db| db.submit(new_job(&name))).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id);
    }
    let seqs: Vec<u64> = queued_seqs(&mut events, REQUESTS)
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(seqs.first(), Some(&1));
    assert_contiguous(&seqs);
    ids.sort_by_key(|id| id.0);
    ids.dedup();
    assert_eq!(ids.len(), REQUESTS, "every request got its own job");
    let committed = committed_jobs(&dir.path().join("gateway.db"));
    assert_eq!(committed, REQUESTS as i64);
    drop(store);
    thread.join();
}
