//! Streaming a response body to disk: a hidden partial file in the destination directory,
//! hashed and size-checked chunk by chunk, never held in memory as a whole.
//!
//! The partial file removes itself when dropped unless it was renamed into place, so every
//! way out of a fetch (an error, a refused file, the fetch future being dropped because the
//! job was cancelled) leaves nothing behind.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};
use url::Url;

use super::error::FetchError;
use crate::files::SNIFF_BYTES;

/// Write buffer: fewer, larger writes to the SD card.
const WRITE_BUFFER: usize = 64 * 1024;

/// A download in progress in `dest_dir`, removed on drop unless `finish`ed.
pub(super) struct Partial {
    path: PathBuf,
    file: BufWriter<File>,
    finished: bool,
}

impl Partial {
    pub(super) async fn create(dest_dir: &Path) -> Result<Self, FetchError> {
        let path = dest_dir.join(format!(".fetch-{:016x}.part", rand::random::<u64>()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|source| FetchError::File {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            finished: false,
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|source| self.error(source))
    }

    /// Flushes to stable storage and renames the file to `path`, replacing any file there
    /// (same name means same hash prefix: the same content).
    pub(super) async fn finish(mut self, path: &Path) -> Result<(), FetchError> {
        self.file.flush().await.map_err(|e| self.error(e))?;
        // The job counts as ready once fetched; a power cut must not leave a torn file.
        self.file
            .get_ref()
            .sync_all()
            .await
            .map_err(|e| self.error(e))?;
        tokio::fs::rename(&self.path, path)
            .await
            .map_err(|source| FetchError::File {
                path: path.to_owned(),
                source,
            })?;
        self.finished = true;
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> FetchError {
        FetchError::File {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.finished {
            // Nothing more can be done about a failed removal here; the name starts with a
            // dot and ends in `.part`, so a sweep of the directory can recognise it.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What was received: its hash, length and first bytes (for the content check).
#[derive(Debug)]
pub(super) struct Received {
    pub sha256: String,
    pub size: u64,
    pub head: Vec<u8>,
}

/// The most bytes to accept, and whether that bound is the job's announced size (a server
/// sending more is then wrong, not merely too big).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound {
    pub limit: u64,
    pub announced: bool,
}

/// Streams `response`'s body into `partial`, stopping as soon as it passes `bound`.
pub(super) async fn receive(
    url: &Url,
    mut response: reqwest::Response,
    partial: &mut Partial,
    bound: Bound,
) -> Result<Received, FetchError> {
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut size = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| FetchError::from_request(url, error))?
    {
        size += chunk.len() as u64;
        if size > bound.limit {
            return Err(past(bound));
        }
        hasher.update(&chunk);
        let room = SNIFF_BYTES - head.len();
        head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        partial.write(&chunk).await?;
    }
    Ok(Received {
        sha256: hex::encode(hasher.finalize()),
        size,
        head,
    })
}

fn past(bound: Bound) -> FetchError {
    if bound.announced {
        FetchError::SizeMismatch {
            expected: bound.limit,
            actual: "more".to_owned(),
        }
    } else {
        FetchError::OverLimit { limit: bound.limit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unfinished_partial_file_removes_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut partial = Partial::create(dir.path()).await.unwrap();
        partial.write(b"G28\n").await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(partial);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_finished_partial_file_is_renamed_with_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut partial = Partial::create(dir.path()).await.unwrap();
        partial.write(b"G28\n").await.unwrap();
        let target = dir.path().join("part.gcode");
        partial.finish(&target).await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"G28\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
