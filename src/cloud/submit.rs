//! The downloads behind `job.submit` and `estimate` (the commands are in `cmd`). Once a
//! submitted job is committed in stage `fetching` together with the command's reply
//! (`Gateway::submit_answering`), a task downloads the file (`fetch`) and hands it to the
//! gateway's intake (`Gateway::attach_download`: G-code analysed as LAN uploads are, the file
//! attached, the job moved on to the stage `Gateway::first_stage` gives — `ready`, or
//! `slicing` for a model the slicer takes from there; a model without a slicer fails) — or
//! fails the job with the download's reason. A job still `fetching` when the gateway starts lost its
//! download with the last run (the URL is not kept) and is failed with a reason that says so.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fetch::{FetchError, Fetched, Fetcher, FileSpec};
use super::payload::Refusal;
use crate::config::BuildVolume;
use crate::domain::{JobId, QueuedStage};
use crate::gateway::{CommandError, Gateway, PlacedFile};
use crate::gcode::estimate::{self, Estimate, Quality};

/// Why a job that was fetching at the last stop fails at start-up.
pub const FETCH_INTERRUPTED: &str =
    "the gateway stopped while downloading the job's file; submit the job again";

/// Downloads running at once; later ones wait their turn (a burst of submissions must not
/// open hundreds of connections on a Raspberry Pi).
const PARALLEL_FETCHES: usize = 4;

/// Starts and tracks the downloads of cloud jobs.
#[derive(Clone)]
pub struct Submissions {
    fetcher: Arc<Fetcher>,
    turns: Arc<Semaphore>,
    files_dir: PathBuf,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Submissions {
    /// Downloads go to `files_dir`, created here if missing.
    pub fn new(
        fetcher: Fetcher,
        files_dir: PathBuf,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> std::io::Result<Submissions> {
        std::fs::create_dir_all(&files_dir)?;
        Ok(Submissions {
            fetcher: Arc::new(fetcher),
            turns: Arc::new(Semaphore::new(PARALLEL_FETCHES)),
            files_dir,
            tasks,
            shutdown,
        })
    }

    /// How long a download keeps retrying transient trouble after its first attempt.
    pub fn retry_budget(&self) -> std::time::Duration {
        self.fetcher.retry_budget()
    }

    /// Fails the jobs whose download the last run left unfinished.
    pub async fn fail_interrupted(gateway: &Gateway) -> Result<Vec<JobId>, CommandError> {
        let failed = gateway.fail_all_waiting(QueuedStage::Fetching, FETCH_INTERRUPTED);
        Ok(failed.await?.into_iter().map(|job| job.id).collect())
    }

    /// Fetches the file (checked like a job's), estimates it (a sliced project on its plate
    /// `plate`, else the first) on a blocking thread and removes it again: an estimate stores
    /// nothing.
    pub async fn estimate(
        &self,
        spec: &FileSpec,
        plate: Option<u32>,
        material: String,
        quality: Quality,
        volumes: &[BuildVolume],
    ) -> Result<Estimate, Refusal> {
        let fetched = {
            let _turn = self.turns.acquire().await;
            self.fetcher.fetch(spec, &self.files_dir).await
        }
        .map_err(|e| Refusal::Fetch(e.to_string()))?;
        let volumes = volumes.to_vec();
        let path = fetched.path.clone();
        let estimated = tokio::task::spawn_blocking(move || {
            estimate::for_printers(&path, fetched.kind, plate, &material, quality, &volumes)
        })
        .await;
        if let Err(e) = std::fs::remove_file(&fetched.path) {
            tracing::warn!(file = %fetched.path.display(), error = %e, "removing an estimated file");
        }
        match estimated {
            Ok(result) => result.map_err(|e| Refusal::Estimate(e.to_string())),
            Err(e) => Err(Refusal::Estimate(e.to_string())),
        }
    }

    pub(super) fn start_fetch(
        &self,
        gateway: Gateway,
        job: JobId,
        spec: FileSpec,
        material: Option<String>,
    ) {
        let this = self.clone();
        self.tasks.spawn(async move {
            let download = async {
                // The semaphore is never closed, so a permit always comes.
                let _turn = this.turns.acquire().await;
                this.fetcher.fetch(&spec, &this.files_dir).await
            };
            let fetched = tokio::select! {
                fetched = download => fetched,
                // The job stays `fetching` and is failed as interrupted at the next start.
                _ = this.shutdown.cancelled() => return,
            };
            finish(&gateway, job, &spec, fetched, material).await;
        });
    }
}

/// Hands the fetched file to the gateway's intake (analysed, attached, the job moved on,
/// the printers woken), or fails the job with the download's reason.
async fn finish(
    gateway: &Gateway,
    job: JobId,
    spec: &FileSpec,
    fetched: Result<Fetched, FetchError>,
    material: Option<String>,
) {
    let outcome = match fetched {
        Ok(file) => {
            let file = PlacedFile {
                path: file.path,
                display_name: spec.name.clone(),
                kind: file.kind,
                sha256: file.sha256,
                size: file.size,
            };
            (gateway.attach_download(job, material, file).await).map_err(|e| e.to_string())
        }
        Err(e) => {
            tracing::warn!(job = %job, error = %e, "job file download failed");
            let reason = format!("downloading the job's file failed: {e}");
            (gateway.fail_waiting_job(job, reason).await).map_err(|e| e.to_string())
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(job = %job, error = %e, "job left the queue during its download");
    }
}
