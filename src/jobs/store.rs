//! The thread that owns the SQLite connection, and the handle everyone else holds.
//!
//! Callers send closures over a bounded channel and get the result on a oneshot. The thread
//! runs them one at a time, so every read-modify-write (claiming the next job, reordering the
//! queue) is serialised without locks.
//!
//! Group commit: the thread takes whatever requests are waiting (up to `MAX_BATCH`), runs
//! them in one transaction — each write under its own savepoint, so a failing one is rolled
//! back alone — and commits once: one fsync for the whole batch. Only then does it answer the
//! requests that wrote or read uncommitted changes, after fanning out the batch's events, in
//! `seq` order, on the broadcast channel. A request that ran before the batch wrote anything is
//! answered at once: all it saw was already committed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::db::Db;
use super::schema::{self, Version};
use super::{BatchError, StoreError};
use crate::events::Event;

/// Requests waiting for the store thread. When full, callers wait (`send().await`): the database
/// is the one place every change goes through, so back-pressure is the right answer. Twice
/// `MAX_BATCH`: a batch only groups what is already waiting, so with a smaller queue a burst's
/// batches could not grow past the queue's size (more, smaller commits, one fsync each).
const REQUEST_CAPACITY: usize = 2 * MAX_BATCH;
/// SQLite's page cache, KiB (a negative `cache_size` counts KiB): the hot pages of the
/// tables and indexes a gateway's queries touch, 18 pages of 4 KiB with SQLite's header of
/// about 0.3 KiB each. SQLite as rusqlite builds it (`SQLITE_ENABLE_MEMORY_MANAGEMENT`)
/// allocates every page as a block of its own and, once the cache is full, reuses the least
/// recently used page's block for the next. At 256 KiB the cache grew page by page with the
/// database and, handed back every 10 s, was allocated again in every burst, leaving 4 KiB
/// holes between the allocator's other blocks: the gateway's memory rose with jobs (issue
/// #14, BENCHMARKS.md "Footprint"). At 80 KiB it is full within the first jobs and then
/// stays; pages it drops are read again from the kernel's page cache.
const CACHE_KIB: i64 = 80;
/// Events kept for slow listeners; one that lags further re-reads the outbox by `seq`.
const EVENT_CAPACITY: usize = 1024;
/// Requests grouped into one transaction at most; bounds how long the first of them waits.
const MAX_BATCH: usize = 128;

/// Runs on the store thread and returns how to deliver its result.
type Request = Box<dyn FnOnce(&mut Db) -> Answer + Send>;
/// Delivers a result once the batch's fate is known (`Some` when it did not commit).
type Answer = Box<dyn FnOnce(Option<&Arc<BatchError>>) + Send>;

/// A cheap handle to the job store.
#[derive(Clone)]
pub struct JobStore {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Event>,
}

/// The store's thread; join it after every handle is dropped to close the database cleanly.
pub struct StoreThread(JoinHandle<()>);

impl StoreThread {
    /// Waits for the thread to close the database (blocking; call from `spawn_blocking`).
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the job store thread panicked");
        }
    }
}

impl JobStore {
    /// Opens (creating or migrating) `gateway.db` in `state_dir`. Refuses, without writing, a
    /// database that is damaged or from a newer version.
    pub fn open(state_dir: &Path) -> Result<(JobStore, StoreThread), StoreError> {
        let path = state_dir.join("gateway.db");
        check_state_dir(state_dir)?;
        let conn = open_connection(&path)?;
        let (requests, inbox) = mpsc::channel::<Request>(REQUEST_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let fan_out = events.clone();
        let thread = std::thread::Builder::new()
            .name("job-store".into())
            .spawn(move || serve(Db::new(conn), inbox, fan_out))
            .map_err(|source| StoreError::StateDir {
                path: state_dir.to_path_buf(),
                source,
            })?;
        Ok((JobStore { requests, events }, StoreThread(thread)))
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let request: Request = Box::new(move |db| {
            let result = f(db);
            Box::new(move |failed: Option<&Arc<BatchError>>| {
                let result = match (result, failed) {
                    (Ok(_), Some(e)) => Err(StoreError::Batch(e.clone())),
                    (result, _) => result,
                };
                // The caller may have given up (cancelled); the work is done either way.
                let _ = reply.send(result);
            })
        });
        self.requests
            .send(request)
            .await
            .map_err(|_| StoreError::Stopped)?;
        result.await.map_err(|_| StoreError::Stopped)?
    }

    /// Every event committed from now on, in `seq` order.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Requests waiting for the store thread right now.
    pub fn queued(&self) -> usize {
        self.requests.max_capacity() - self.requests.capacity()
    }

    /// False once the store thread has gone (the watchdog stops pinging).
    pub fn is_alive(&self) -> bool {
        !self.requests.is_closed()
    }
}

/// The store thread: batches until every handle is gone, then closes the database.
fn serve(mut db: Db, mut inbox: mpsc::Receiver<Request>, fan_out: broadcast::Sender<Event>) {
    let mut deferred: Vec<Answer> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = inbox.blocking_recv() {
        db.open_batch();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(request) = next {
            let answer = request(&mut db);
            if db.uncommitted() {
                deferred.push(answer);
            } else {
                answer(None);
            }
            taken += 1;
            next = (taken < MAX_BATCH).then(|| inbox.try_recv().ok()).flatten();
        }
        let outcome = db.close_batch().map_err(Arc::new);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, requests = deferred.len(), "a batch of writes did not commit");
        }
        // Events first: a caller that hears "done" finds its events already sent.
        for event in db.take_committed() {
            // No receivers is fine: nobody is listening yet.
            let _ = fan_out.send(event);
        }
        for answer in deferred.drain(..) {
            answer(outcome.as_ref().err());
        }
    }
    if let Err(e) = db.close() {
        tracing::error!(error = %e, "closing the database");
    }
}

fn check_state_dir(dir: &Path) -> Result<(), StoreError> {
    let fail = |source| StoreError::StateDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    // Creating a file is the only honest test of "writable" (permissions, read-only mounts).
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    check_integrity(&conn, path)?;
    match schema::migrate(&mut conn).map_err(|e| corrupt_or(path, e))? {
        Version::TooNew(found) => {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                known: schema::LATEST_VERSION,
            });
        }
        Version::Migrated { from } => {
            tracing::info!(from, to = schema::LATEST_VERSION, "database migrated")
        }
        Version::Current => {}
    }
    // WAL: readers never block the writer, and one fsync per commit on the WAL.
    // synchronous=FULL: a commit is on the card before the caller hears "done" (acknowledged
    // jobs and commands must survive a power cut).
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    // SQLite's page cache (2 MiB by default) filled with every job until the database
    // outgrew it (issue #14); pages it drops are re-read from the kernel's page cache.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(super::sql::CACHED_STATEMENTS);
    Ok(conn)
}

/// A file that is not a database, or one whose pages are damaged, is reported, never rewritten.
fn check_integrity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let verdict: Result<String, _> = conn.query_row("PRAGMA quick_check", [], |r| r.get(0));
    match verdict {
        Ok(ok) if ok == "ok" => Ok(()),
        Ok(detail) => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        }),
        Err(e) => Err(corrupt_or(path, e)),
    }
}

fn corrupt_or(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(NotADatabase | DatabaseCorrupt) => StoreError::Corrupt {
            path: PathBuf::from(path),
            detail: e.to_string(),
        },
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source: e,
        },
    }
}
