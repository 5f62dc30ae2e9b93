//! The printer's safety caps for jobs the gateway does not stream itself (a print host such
//! as OctoPrint prints the file): the whole file is checked line by line with [`Safety`]
//! before it is uploaded, and a job with a refused line fails without reaching the host.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

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

/// `Err` naming the line and refusal when a line of `file` breaks the caps.
pub async fn check_file(safety: Safety, file: PathBuf) -> Result<(), FileCheckError> {
    let checked = tokio::task::spawn_blocking(move || check_lines(&safety, &file)).await;
    checked.unwrap_or_else(|source| Err(FileCheckError::Stopped { source }))
}

fn check_lines(safety: &Safety, file: &std::path::Path) -> Result<(), FileCheckError> {
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
        number += 1;
        let line = String::from_utf8_lossy(&raw);
        let code = line.split(';').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        safety
            .check(code)
            .map_err(|source| FileCheckError::Refused {
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
}
