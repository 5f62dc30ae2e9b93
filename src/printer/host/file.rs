//! What a file host (OctoPrint, Klipper: the job is a file the host prints, its end looked
//! up in the host's record of that file) adds to the job: its file and the one look-up of
//! its end at a time; and the file of the job that just ended, until the host no longer
//! prints it: its tail (OctoPrint's `Cancelling`, a print Klipper runs on for a moment after
//! an emergency stop) is not someone else's print, and it is deleted, when the config says
//! so, only then (a host refuses to delete a file in use).

use super::{HostJob, Phase, Step};
use crate::domain::JobId;

/// The gateway's job on a file host.
#[derive(Debug)]
pub struct FileJob {
    pub host: HostJob,
    /// The job's file on the host.
    pub path: String,
    /// A look-up of the job's end in the host's record is under way.
    resolving: bool,
}

impl FileJob {
    pub fn new(job: JobId, path: String, phase: Phase) -> FileJob {
        FileJob {
            host: HostJob::new(job, phase),
            path,
            resolving: false,
        }
    }

    /// Whether the host's `file` is this job's.
    pub fn is_shown(&self, file: Option<&str>) -> bool {
        file == Some(self.path.as_str())
    }

    /// The job no longer shows on the host: look its end up, unless that is under way.
    pub fn resolve(&mut self) -> Option<Step> {
        if self.resolving {
            return None;
        }
        self.resolving = true;
        let (job, path) = (self.host.id, self.path.clone());
        Some(Step::Resolve { job, path })
    }

    pub fn is_resolving(&self) -> bool {
        self.resolving
    }

    /// The look-up was answered, or its answer will not come (the link broke).
    pub fn settled(&mut self) {
        self.resolving = false;
    }
}

/// How often an ended job's file is asked to be deleted, once per idle report, before the
/// gateway gives up (a host may refuse for a moment: OctoPrint right after a cancel).
pub const DELETE_TRIES: u8 = 10;

#[derive(Debug)]
pub struct Ended {
    file: Option<String>,
    to_delete: Option<String>,
    delete_after_job: bool,
    /// Deletes of the file waiting to go that the host refused so far.
    refused: u8,
}

impl Ended {
    pub fn new(delete_after_job: bool) -> Ended {
        Ended {
            file: None,
            to_delete: None,
            delete_after_job,
            refused: 0,
        }
    }

    /// The job printing `path` ended.
    pub fn job_ended(&mut self, path: String) {
        if self.delete_after_job {
            self.to_delete = Some(path.clone());
            self.refused = 0;
        }
        self.file = Some(path);
    }

    /// The host prints nothing: the ended job's file may go now.
    pub fn idle(&mut self) -> Option<Step> {
        self.to_delete.take().map(|path| Step::Delete { path })
    }

    /// The host refused to delete `path`: ask again when it is next idle, unless it refused
    /// [`DELETE_TRIES`] times (false: given up).
    pub fn delete_refused(&mut self, path: String) -> bool {
        self.refused += 1;
        let again = self.refused < DELETE_TRIES && self.to_delete.is_none();
        if again {
            self.to_delete = Some(path);
        }
        again
    }

    /// The host is idle with no job tracked (or someone else's print started): a print of
    /// the ended job's file from now on is someone else's.
    pub fn forget(&mut self) {
        self.file = None;
    }

    /// Whether the host's `file` is the ended job's.
    pub fn is_tail(&self, file: Option<&str>) -> bool {
        file.is_some() && file == self.file.as_deref()
    }
}
