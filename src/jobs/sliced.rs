//! What the slicer keeps in the store: the step that makes a sliced G-code file the job's
//! file, with its analysis, and the job `ready` (the jobs waiting in stage `slicing` are
//! `Db::waiting_jobs`).

use std::path::PathBuf;

use super::db::Db;
use super::lifecycle::Transition;
use super::{Job, StoreError};
use crate::domain::{JobId, JobStatus, QueuedStage};
use crate::gcode::FileIntel;

/// The G-code a slice produced, already at its final place in the files directory.
#[derive(Debug, Clone)]
pub struct SlicedFile {
    pub display_name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// The sliced G-code's analysis; `None` when it could not be analysed (the job keeps
    /// the model's quick estimate then).
    pub intel: Option<FileIntel>,
}

impl Db {
    /// Records `sliced` with its analysis, makes it the job's file (replacing the model),
    /// gives the job the analysis's estimates and moves the job to `ready`, in one transaction. A job no longer `slicing` (it was
    /// cancelled meanwhile) makes this fail, changing nothing.
    pub fn attach_sliced_file(
        &mut self,
        job: JobId,
        sliced: &SlicedFile,
    ) -> Result<Job, StoreError> {
        self.write(|w| {
            let current = w.queued_job(job)?;
            if current.status != JobStatus::Queued(QueuedStage::Slicing) {
                return Err(StoreError::NotQueued {
                    job,
                    status: "queued but not slicing",
                });
            }
            let hash = (sliced.sha256.as_str(), sliced.size);
            let intel = sliced.intel.as_ref();
            w.attach_new_file(job, &sliced.display_name, &sliced.path, hash, intel)?;
            w.transition(job, Transition::Stage(QueuedStage::Ready))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::jobs::NewJob;
    use crate::jobs::sql::CachedSql;
    use crate::jobs::test_support::{db, intel};

    fn sliced() -> SlicedFile {
        SlicedFile {
            display_name: "cube.gcode".into(),
            path: Path::new("/tmp/cube.gcode").to_path_buf(),
            sha256: "ab".repeat(32),
            size: 1234,
            intel: Some(intel()),
        }
    }

    fn slicing_job(db: &mut Db) -> Job {
        db.submit(NewJob {
            file_name: "cube.stl".into(),
            stage: Some(QueuedStage::Slicing),
            ..NewJob::default()
        })
        .unwrap()
    }

    #[test]
    fn a_sliced_file_becomes_the_jobs_file_with_its_estimate_and_the_job_ready() {
        let mut db = db();
        let job = slicing_job(&mut db);
        assert_eq!(
            db.waiting_jobs(QueuedStage::Slicing).unwrap(),
            std::slice::from_ref(&job)
        );
        let sliced = sliced();
        let intel = sliced.intel.clone().unwrap();
        let ready = db.attach_sliced_file(job.id, &sliced).unwrap();
        assert_eq!(ready.status, JobStatus::Queued(QueuedStage::Ready));
        assert_eq!(ready.estimated_time_s, Some(intel.estimated_time_s));
        assert_eq!(ready.estimated_cost, Some(intel.estimated_cost));
        assert_eq!(ready.model_size_mm, intel.model_size_mm);
        let file = db.file(ready.file.unwrap()).unwrap().unwrap();
        assert_eq!(file.display_name, "cube.gcode");
        assert!(
            db.thumbnail(file.id).unwrap().is_some(),
            "the sliced file's analysis (thumbnail) is kept"
        );
        assert!(db.waiting_jobs(QueuedStage::Slicing).unwrap().is_empty());
    }

    #[test]
    fn jobs_left_slicing_fail_with_the_reason_when_nothing_slices_any_more() {
        let mut db = db();
        let job = slicing_job(&mut db);
        let failed = db
            .fail_waiting_jobs(QueuedStage::Slicing, "no slicer")
            .unwrap();
        assert_eq!(failed.len(), 1);
        let error = Some("no slicer");
        assert_eq!(db.job(job.id).unwrap().status.error(), error);
        assert!(
            db.fail_waiting_jobs(QueuedStage::Slicing, "no slicer")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_job_cancelled_while_slicing_does_not_take_the_sliced_file() {
        let mut db = db();
        let job = slicing_job(&mut db);
        db.cancel_queued(job.id).unwrap();
        let refused = db.attach_sliced_file(job.id, &sliced());
        assert!(
            matches!(refused, Err(StoreError::NotQueued { .. })),
            "{refused:?}"
        );
        let files: i64 = db
            .conn()
            .row("SELECT count(*) FROM files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(files, 0);
        assert_eq!(db.job(job.id).unwrap().status, JobStatus::Cancelled);
    }
}
