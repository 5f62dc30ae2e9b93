//! `[slicer]`: slicing STL/3MF jobs on the gateway with PrusaSlicer's command line.
//!
//! Without `command` (absent or empty) the gateway does not slice and such jobs fail with a
//! clear reason. With it, the command must name an executable file now, at start-up: a typo
//! found when the first model arrives would fail a designer's job instead of the operator's
//! config check. `profiles_dir` absent means the profiles compiled into the gateway (the
//! repository's `config/profiles`); a package that ships them as files installs them at
//! `/usr/share/fluxprint/profiles`, and an operator copies that directory to tune them.

use std::ops::RangeInclusive;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Problem;
use super::options::in_range;
use super::raw::RawSlicer;
use super::validate::Problems;

/// Seconds one slice may take unless configured.
pub const DEFAULT_SLICER_TIMEOUT_S: u64 = 600;
/// Accepted `timeout_s`: a day is far beyond any model a Pi should slice.
pub const SLICER_TIMEOUT_S_RANGE: RangeInclusive<u64> = 1..=86_400;
/// Slices running at once unless configured (PrusaSlicer uses every core already).
pub const DEFAULT_SLICER_MAX_PARALLEL: usize = 1;
/// Accepted `max_parallel`.
pub const SLICER_MAX_PARALLEL_RANGE: RangeInclusive<u64> = 1..=16;

/// `[slicer]`, validated, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SlicerConfig {
    /// The slicer executable; `None`: this gateway does not slice.
    pub command: Option<PathBuf>,
    /// A directory laid out like `config/profiles`; `None`: the built-in profiles.
    pub profiles_dir: Option<PathBuf>,
    /// A slice running longer is killed and its job fails.
    pub timeout: Duration,
    /// Slices running at once; further jobs wait in stage `slicing`.
    pub max_parallel: usize,
}

impl Default for SlicerConfig {
    fn default() -> Self {
        Self {
            command: None,
            profiles_dir: None,
            timeout: Duration::from_secs(DEFAULT_SLICER_TIMEOUT_S),
            max_parallel: DEFAULT_SLICER_MAX_PARALLEL,
        }
    }
}

pub(crate) fn slicer(raw: RawSlicer, problems: &mut Problems) -> Option<SlicerConfig> {
    let command = match raw.command.filter(|path| !path.as_os_str().is_empty()) {
        Some(path) => problems.check("slicer.command", executable(path)).map(Some),
        None => Some(None),
    };
    let profiles_dir = match raw.profiles_dir.filter(|path| !path.as_os_str().is_empty()) {
        Some(path) => problems
            .check("slicer.profiles_dir", directory(path))
            .map(Some),
        None => Some(None),
    };
    let timeout_s = problems.check(
        "slicer.timeout_s",
        in_range(
            raw.timeout_s.unwrap_or(DEFAULT_SLICER_TIMEOUT_S),
            SLICER_TIMEOUT_S_RANGE,
        ),
    );
    let max_parallel = problems.check(
        "slicer.max_parallel",
        in_range(
            raw.max_parallel
                .unwrap_or(DEFAULT_SLICER_MAX_PARALLEL as u64),
            SLICER_MAX_PARALLEL_RANGE,
        ),
    );
    Some(SlicerConfig {
        command: command?,
        profiles_dir: profiles_dir?,
        timeout: Duration::from_secs(timeout_s?),
        // In 1..=16, so it fits.
        max_parallel: max_parallel? as usize,
    })
}

/// A path to an executable regular file; a bare name (`prusa-slicer`) is looked up on PATH.
fn executable(path: PathBuf) -> Result<PathBuf, Problem> {
    let found = if path.components().count() == 1 && !path.is_absolute() {
        on_path(&path).ok_or_else(|| Problem::NotOnPath {
            name: path.display().to_string(),
        })?
    } else {
        path
    };
    match std::fs::metadata(&found) {
        Ok(meta) if !meta.is_file() => Err(Problem::NotAFile { path: found }),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
            Err(Problem::NotExecutable { path: found })
        }
        Ok(_) => Ok(found),
        Err(source) => Err(Problem::UnreadableFile {
            path: found,
            source,
        }),
    }
}

fn on_path(name: &Path) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn directory(path: PathBuf) -> Result<PathBuf, Problem> {
    match std::fs::read_dir(&path) {
        Ok(_) => Ok(path),
        Err(source) => Err(Problem::NotADirectory { path, source }),
    }
}
