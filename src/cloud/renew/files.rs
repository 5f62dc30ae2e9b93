//! The link's identity files and their `.next` companions: where a renewed key and
//! certificate wait until a connection with them succeeded, the renames that make them
//! current (key first), and finishing a switch a crash interrupted.

use std::path::{Path, PathBuf};

use super::super::enroll::FilesError;

/// The link's identity files and their `.next` companions.
#[derive(Debug, Clone)]
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub next_cert: PathBuf,
    pub next_key: PathBuf,
}

impl Files {
    pub fn new(cert: &Path, key: &Path) -> Files {
        let next = |p: &Path| {
            let mut name = p.as_os_str().to_owned();
            name.push(".next");
            PathBuf::from(name)
        };
        Files {
            next_cert: next(cert),
            next_key: next(key),
            cert: cert.to_owned(),
            key: key.to_owned(),
        }
    }

    /// Finishes a switch a crash interrupted between its renames (the key moved, the
    /// certificate not yet). Returns whether both `.next` files wait: a switch to try.
    pub fn recover(&self) -> Result<bool, FilesError> {
        let has_cert = self.next_cert.exists();
        if has_cert && !self.next_key.exists() {
            rename(&self.next_cert, &self.cert)?;
            return Ok(false);
        }
        Ok(has_cert)
    }

    /// The `.next` files become the current ones.
    pub(super) fn promote(&self) -> Result<(), FilesError> {
        rename(&self.next_key, &self.key)?;
        rename(&self.next_cert, &self.cert)
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), FilesError> {
    std::fs::rename(from, to).map_err(|source| FilesError::Io {
        path: to.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_switch_is_finished_and_a_waiting_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(&dir.path().join("gw.pem"), &dir.path().join("gw.key"));
        std::fs::write(&files.cert, "old").unwrap();
        assert!(!files.recover().unwrap());
        std::fs::write(&files.next_cert, "new").unwrap();
        std::fs::write(&files.next_key, "new key").unwrap();
        assert!(files.recover().unwrap());
        rename(&files.next_key, &files.key).unwrap();
        assert!(!files.recover().unwrap());
        assert_eq!(std::fs::read_to_string(&files.cert).unwrap(), "new");
        assert!(!files.next_cert.exists());
    }
}
