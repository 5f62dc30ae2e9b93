//! The file of the gateway's job that just ended on a file host (OctoPrint, Klipper), until
//! the host no longer prints it: its tail (OctoPrint's `Cancelling`, a print Klipper runs on
//! for a moment after an emergency stop) is not someone else's print, and it is deleted, when
//! the config says so, only then (a host refuses to delete a file in use).

use super::Step;

#[derive(Debug)]
pub struct Ended {
    file: Option<String>,
    to_delete: Option<String>,
    delete_after_job: bool,
}

impl Ended {
    pub fn new(delete_after_job: bool) -> Ended {
        Ended {
            file: None,
            to_delete: None,
            delete_after_job,
        }
    }

    /// The job printing `path` ended.
    pub fn job_ended(&mut self, path: String) {
        if self.delete_after_job {
            self.to_delete = Some(path.clone());
        }
        self.file = Some(path);
    }

    /// The host prints nothing: the ended job's file may go now.
    pub fn idle(&mut self) -> Option<Step> {
        self.to_delete.take().map(|path| Step::Delete { path })
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
