//! The printer's safety caps for jobs the gateway does not stream itself (a print host such
//! as OctoPrint or Moonraker prints the file): the whole file is checked line by line with
//! [`Safety`] before it is uploaded, and a job with a refused line fails without reaching the
//! host. [`check_file_digest`] also hashes what it checked, so that the host can verify it
//! received exactly the checked bytes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{Refusal, Safety};

#[derive(Debug, thiserror::Error)]
pub enum FileCheckError {
    #[error("cannot read the job's file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: {source}")]
    Refused {
        line: usize,
        #[source]
        source: Refusal,
    },
    #[error("the safety check stopped: {source}")]
    Stopped {
        #[source]
        source: tokio::task::JoinError,
    },
}

/// The SHA-256 and length of the bytes a check read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedFile {
    pub sha256: [u8; 32],
    pub size: u64,
}

/// `Err` naming the line and refusal when a line of `file` breaks the caps.
pub async fn check_file(safety: Safety, file: PathBuf) -> Result<(), FileCheckError> {
    let checked =
        tokio::task::spawn_blocking(move || check_lines(&|l| safety.check(l), &file, |_| {})).await;
    checked.unwrap_or_else(|source| Err(FileCheckError::Stopped { source }))
}

/// As [`check_file`] with `check` for each line (a driver's own reading of the caps), and
/// the hash and length of the bytes checked, in the same pass.
pub async fn check_file_digest(
    check: impl Fn(&str) -> Result<(), Refusal> + Send + 'static,
    file: PathBuf,
) -> Result<CheckedFile, FileCheckError> {
    let checked = tokio::task::spawn_blocking(move || {
        let (mut hash, mut size) = (Sha256::new(), 0u64);
        check_lines(&check, &file, |raw| {
            hash.update(raw);
            size += raw.len() as u64;
        })?;
        Ok(CheckedFile {
            sha256: hash.finalize().into(),
            size,
        })
    })
    .await;
    checked.unwrap_or_else(|source| Err(FileCheckError::Stopped { source }))
}

/// Checks every line of `file`, handing each one's raw bytes to `read` first.
fn check_lines(
    check: &dyn Fn(&str) -> Result<(), Refusal>,
    file: &std::path::Path,
    mut read: impl FnMut(&[u8]),
) -> Result<(), FileCheckError> {
    let read_err = |source| FileCheckError::Read {
        path: file.to_owned(),
        source,
    };
    let opened = std::fs::File::open(file).map_err(read_err)?;
    let mut reader = BufReader::with_capacity(16 * 1024, opened);
    let mut raw = Vec::new();
    let mut number = 0usize;
    loop {
        raw.clear();
        let n = reader.read_until(b'\n', &mut raw).map_err(read_err)?;
        if n == 0 {
            return Ok(());
        }
        read(&raw);
        number += 1;
        let line = String::from_utf8_lossy(&raw);
        let code = line.split(';').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        check(code).map_err(|source| FileCheckError::Refused {
            line: number,
            source,
        })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SafetyPolicy;

    #[tokio::test]
    async fn a_file_asking_for_more_than_the_hotend_cap_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hot.gcode");
        std::fs::write(&path, "; start\nG28\nM104 S900 ; too hot\nG1 X1\n").unwrap();
        let safety = Safety::from(&SafetyPolicy::default());
        let reason = check_file(safety.clone(), path).await.unwrap_err();
        assert!(reason.to_string().starts_with("line 3:"), "{reason}");
        let ok = dir.path().join("ok.gcode");
        std::fs::write(&ok, "G28\nM104 S200\nG1 X1 ; M104 S900 in a comment\n").unwrap();
        assert!(check_file(safety, ok).await.is_ok());
    }

    #[tokio::test]
    async fn the_digest_is_the_sha256_and_length_of_the_whole_checked_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.gcode");
        let text = "; part\nG28\nM104 S200\nG1 X1"; // no newline at the end
        std::fs::write(&path, text).unwrap();
        let safety = Safety::from(&SafetyPolicy::default());
        let checked = check_file_digest(move |l| safety.check(l), path)
            .await
            .unwrap();
        assert_eq!(checked.size, text.len() as u64);
        assert_eq!(checked.sha256, <[u8; 32]>::from(Sha256::digest(text)));
    }
}
