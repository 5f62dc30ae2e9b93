//! The thread that owns the SQLite connection, and the handle everyone else holds.
//!
//! Callers send closures over a bounded channel and get the result on a oneshot. The thread
//! runs them one at a time, so every read-modify-write (claiming the next job, reordering the
//! queue) is serialised without locks. After each request it fans out the events that request
//! committed, in `seq` order, on the broadcast channel.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::StoreError;
use super::db::Db;
use super::schema::{self, Version};
use crate::events::Event;

/// Requests waiting for the store thread. When full, callers wait (`send().await`): the database
/// is the one place every change goes through, so back-pressure is the right answer.
const REQUEST_CAPACITY: usize = 64;
/// Events kept for slow listeners; one that lags further re-reads the outbox by `seq`.
const EVENT_CAPACITY: usize = 1024;

type Request = Box<dyn FnOnce(&mut Db) + Send>;

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
        let (requests, mut inbox) = mpsc::channel::<Request>(REQUEST_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let fan_out = events.clone();
        let thread = std::thread::Builder::new()
            .name("job-store".into())
            .spawn(move || {
                let mut db = Db::new(conn);
                while let Some(request) = inbox.blocking_recv() {
                    request(&mut db);
                    for event in db.take_committed() {
                        // No receivers is fine: nobody is listening yet.
                        let _ = fan_out.send(event);
                    }
                }
                if let Err(e) = db.close() {
                    tracing::error!(error = %e, "closing the database");
                }
            })
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
            // The caller may have given up (cancelled); the work is done either way.
            let _ = reply.send(f(db));
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

    /// False once the store thread has gone (the watchdog stops pinging).
    pub fn is_alive(&self) -> bool {
        !self.requests.is_closed()
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
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
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
