//! Slicing on the gateway: STL/3MF jobs become G-code with PrusaSlicer's command line.
//!
//! The job store is the queue. A job whose model needs slicing is queued in stage
//! `slicing` (by either door, see `Gateway::first_stage`), where no printer can claim it.
//! One worker task ([`worker`]) follows the store's events: it starts a slice for each such
//! job, at most `max_parallel` at once, in queue order, and stops the slice of a job that
//! left the stage meanwhile (cancelled). Each slice ([`job`]) picks its profiles from the
//! job's material and quality ([`profiles`]), runs the slicer with a deadline ([`process`]),
//! then makes the G-code the job's file with its estimate and the job `ready` — or fails
//! the job with the slicer's own message. At start-up the worker finds the jobs a stopped
//! gateway left in `slicing` and slices them again; at shutdown running slicers are killed.

mod job;
pub mod process;
pub mod profiles;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::domain::QueuedStage;
use crate::gateway::Gateway;

pub use profiles::{Profiles, SliceRequest};

/// Prefix of the files a slice writes before they are complete (leftovers go at start-up).
const PARTIAL_PREFIX: &str = ".slicing-";

#[derive(Debug, thiserror::Error)]
pub enum SlicerStartError {
    #[error(transparent)]
    Store(#[from] crate::gateway::CommandError),
    #[error("slicer directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How every slice runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub command: PathBuf,
    pub profiles: Profiles,
    pub timeout: Duration,
    /// Where sliced G-code is stored (the uploads' directory).
    pub files_dir: PathBuf,
    /// PrusaSlicer's data directory.
    pub datadir: PathBuf,
}

/// Starts the slicing worker when `[slicer] command` is set, and returns the gateway that
/// both doors use: one that queues models in `slicing` when it slices, else the same one.
/// Without a slicer, jobs a previous run left in `slicing` fail: nothing would take them.
pub async fn start(
    config: &Config,
    gateway: Gateway,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<Gateway, SlicerStartError> {
    let Some(command) = &config.slicer.command else {
        let reason = crate::gateway::SLICER_NEEDED;
        let failed = gateway
            .fail_all_waiting(QueuedStage::Slicing, reason)
            .await?;
        for job in failed {
            tracing::warn!(job = %job.id, "job waited for a slicer, none is configured now; failed");
        }
        return Ok(gateway);
    };
    let state = config.gateway.state_dir.join("slicer");
    let files_dir = crate::web::files_dir(config);
    let dir_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SlicerStartError::Dir { path, source }
    };
    let profiles = match &config.slicer.profiles_dir {
        Some(dir) => Profiles::new(dir.clone()),
        None => {
            let dir = state.join("profiles");
            Profiles::install_built_in(&dir).map_err(dir_error(&dir))?
        }
    };
    let datadir = state.join("data");
    std::fs::create_dir_all(&datadir).map_err(dir_error(&datadir))?;
    std::fs::create_dir_all(&files_dir).map_err(dir_error(&files_dir))?;
    remove_partials(&files_dir).map_err(dir_error(&files_dir))?;
    let settings = Settings {
        command: command.clone(),
        profiles,
        timeout: config.slicer.timeout,
        files_dir,
        datadir,
    };
    let gateway = gateway.with_slicer();
    let worker = worker::Worker::new(
        gateway.clone(),
        Arc::new(settings),
        config.slicer.max_parallel,
        tasks.clone(),
        shutdown,
    );
    // Subscribed before the worker's first look at the store, so no job falls in between.
    let events = gateway.subscribe();
    tasks.spawn(worker.run(events));
    Ok(gateway)
}

/// Removes what slices cut off by the last stop left behind.
fn remove_partials(files_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(files_dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(PARTIAL_PREFIX)
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
