//! The files in `<state_dir>/update/` that the daemon and the helper hand each other. Each
//! JSON file is written to a temporary name and renamed into place, so a reader never sees
//! half of one.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Under the state directory.
pub const UPDATE_DIR: &str = "update";

#[derive(Debug, thiserror::Error)]
pub enum UpdateFilesError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What the daemon asks the helper to install (`request.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The `gateway.update` command's id: the outcome names it, so the answer finds it.
    pub id: String,
    pub version: String,
    pub sha256: String,
    /// The release signature: the helper checks it again, since it runs as root and the
    /// directory is the daemon's.
    pub signature: String,
}

/// How an update ended (`outcome.json`), written by the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub version: String,
    /// `committed` or `rolled-back` (the `gateway:update` stage it ends with).
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The paths in `<state_dir>/update/`.
#[derive(Debug, Clone)]
pub struct UpdateFiles {
    dir: PathBuf,
}

impl UpdateFiles {
    pub fn new(state_dir: &Path) -> UpdateFiles {
        UpdateFiles {
            dir: state_dir.join(UPDATE_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verified new binary, waiting for the helper.
    pub fn staged(&self) -> PathBuf {
        self.dir.join("staged")
    }

    /// What the path unit watches: present means "install `staged`".
    pub fn request(&self) -> PathBuf {
        self.dir.join("request.json")
    }

    /// The request the helper is working on (moved from `request`, so the path unit does not
    /// start it twice).
    pub fn applying(&self) -> PathBuf {
        self.dir.join("applying.json")
    }

    pub fn outcome(&self) -> PathBuf {
        self.dir.join("outcome.json")
    }

    pub fn health(&self) -> PathBuf {
        self.dir.join("health.json")
    }

    pub fn create_dir(&self) -> Result<(), UpdateFilesError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| io_error(&self.dir, source))
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), UpdateFilesError> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec(value).map_err(|source| UpdateFilesError::Json {
        path: path.to_owned(),
        source,
    })?;
    std::fs::write(&tmp, json).map_err(|source| io_error(&tmp, source))?;
    std::fs::rename(&tmp, path).map_err(|source| io_error(path, source))
}

/// Reads JSON from `path`; `None` when there is no such file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, UpdateFilesError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| UpdateFilesError::Json {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error(path, source)),
    }
}

/// Removes `path`; a file already gone is fine.
pub fn remove(path: &Path) -> Result<(), UpdateFilesError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(path, e)),
        _ => Ok(()),
    }
}

pub(super) fn io_error(path: &Path, source: io::Error) -> UpdateFilesError {
    UpdateFilesError::Io {
        path: path.to_owned(),
        source,
    }
}
