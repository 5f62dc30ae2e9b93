//! Running the slicer once: a child process with no stdin and no display, its output read
//! into bounded tails, a deadline, and a stop signal (cancel, shutdown). On the deadline or
//! the stop the child is killed and reaped before this returns; `kill_on_drop` covers every
//! other way out. A failed run is described by the slicer's most useful line.

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Output kept per stream: the end, where the reason for a failure is.
const TAIL_BYTES: usize = 16 * 1024;
/// The longest message a failed job shows.
const MESSAGE_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the slicer {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("slicing timed out after {} s", .0.as_secs())]
    TimedOut(Duration),
    #[error("slicing was stopped")]
    Stopped,
    #[error("waiting for the slicer: {0}")]
    Wait(#[source] std::io::Error),
    /// The slicer exited unsuccessfully; `message` is its most useful line.
    #[error("slicing failed: {message}")]
    Failed { status: ExitStatus, message: String },
}

/// Runs `program` with `args` until it exits, `limit` passes or `stop` is cancelled.
pub async fn run(
    program: &Path,
    args: &[OsString],
    limit: Duration,
    stop: &CancellationToken,
) -> Result<(), RunError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The command-line slicer needs no display; never let it look for one.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let finished = {
        // Waiting reads both pipes too, so a chatty slicer never blocks on a full pipe.
        let exit = async { tokio::join!(child.wait(), tail(stdout), tail(stderr)) };
        tokio::select! {
            done = exit => Ok(done),
            _ = tokio::time::sleep(limit) => Err(RunError::TimedOut(limit)),
            _ = stop.cancelled() => Err(RunError::Stopped),
        }
    };
    let (status, stdout, stderr) = match finished {
        Ok(done) => done,
        Err(reason) => {
            if let Err(e) = child.kill().await {
                tracing::warn!(error = %e, "killing the slicer");
            }
            return Err(reason);
        }
    };
    let status = status.map_err(RunError::Wait)?;
    if status.success() {
        return Ok(());
    }
    let message = useful_line(&stderr, &stdout).unwrap_or_else(|| format!("the slicer {status}"));
    Err(RunError::Failed { status, message })
}

/// The last `TAIL_BYTES` of a stream, as text.
async fn tail(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut chunk = [0_u8; 4096];
    // A read error ends the tail; the exit status still tells whether the slice worked.
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > 2 * TAIL_BYTES {
            kept.drain(..kept.len() - TAIL_BYTES);
        }
    }
    let start = kept.len().saturating_sub(TAIL_BYTES);
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

/// What to show for a failed slice: the last message PrusaSlicer meant for people (on
/// stderr: "x.stl: Loading of a model file failed.", "what():  Objects could not fit on the
/// bed"), else its last `[error]` log line (on stdout), shortened.
pub fn useful_line(stderr: &str, stdout: &str) -> Option<String> {
    let line = last(stderr, plain_line)
        .or_else(|| last(stderr, error_log_line))
        .or_else(|| last(stdout, error_log_line))
        .or_else(|| last(stdout, plain_line))?;
    Some(shorten(line))
}

/// The last line of `text` that `pick` keeps, as it keeps it.
fn last<'a>(text: &'a str, pick: fn(&'a str) -> Option<&'a str>) -> Option<&'a str> {
    text.lines().rev().find_map(pick)
}

/// A line meant for people: not a log line, not progress (`30 => Preparing infill`), not
/// the C++ runtime's preamble.
fn plain_line(line: &str) -> Option<&str> {
    let line = line.trim();
    let progress = line
        .split_once(" => ")
        .is_some_and(|(head, _)| !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()));
    if line.is_empty()
        || log_level(line).is_some()
        || progress
        || line.starts_with("terminate called")
    {
        return None;
    }
    Some(line.strip_prefix("what():").map_or(line, str::trim))
}

/// The text of an `[error]` or `[fatal]` log line (`[time] [thread] [error]   text`).
fn error_log_line(line: &str) -> Option<&str> {
    let (level, text) = log_level(line.trim())?;
    matches!(level, "error" | "fatal")
        .then_some(text.trim())
        .filter(|text| !text.is_empty())
}

/// A Boost log line's level and text.
fn log_level(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (_time, rest) = rest.split_once("] [")?;
    let (_thread, rest) = rest.split_once("] [")?;
    rest.split_once(']')
}

fn shorten(line: &str) -> String {
    match line.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "[2026-11-28 04:50:37.539796] [0x00007f52cf569d80] [trace]   Initializing StaticPrintConfigs\n";

    #[test]
    fn a_model_that_does_not_load_is_described_by_the_slicers_own_sentence() {
        let stdout = format!(
            "{TRACE}[2026-11-28 04:50:37.545160] [0x00007f52cf569d80] [error]   stl_open_count_facets: The input is an empty file: /f/a.stl\n"
        );
        let stderr = "/f/a.stl: Loading of a model file failed.\n";
        assert_eq!(
            useful_line(stderr, &stdout).as_deref(),
            Some("/f/a.stl: Loading of a model file failed.")
        );
    }

    #[test]
    fn an_uncaught_slicer_exception_is_described_by_its_what_line() {
        let stderr = "terminate called after throwing an instance of 'Slic3r::RuntimeError'\n  what():  Objects could not fit on the bed\n";
        assert_eq!(
            useful_line(stderr, TRACE).as_deref(),
            Some("Objects could not fit on the bed")
        );
    }

    #[test]
    fn without_a_plain_line_the_last_error_log_line_is_used_and_progress_is_not() {
        let stdout = format!(
            "{TRACE}[t] [0x1] [error]   first\n[t] [0x1] [error]   Empty layers detected\n10 => Processing triangulated mesh\n"
        );
        assert_eq!(
            useful_line("", &stdout).as_deref(),
            Some("Empty layers detected")
        );
        assert_eq!(useful_line("\n  \n", TRACE), None);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(400);
        let line = useful_line(&long, "").unwrap();
        assert_eq!(line.chars().count(), MESSAGE_CHARS + 1);
        assert!(line.ends_with('…'));
    }

    #[tokio::test]
    async fn a_slicer_that_outlives_its_limit_is_killed_and_reported_as_timed_out() {
        let limit = Duration::from_secs(1);
        let args = ["-c".into(), "exec sleep 600".into()];
        let outcome = run(
            Path::new("/bin/sh"),
            &args,
            limit,
            &CancellationToken::new(),
        )
        .await;
        let error = outcome.unwrap_err();
        assert!(matches!(error, RunError::TimedOut(_)), "{error:?}");
        assert_eq!(error.to_string(), "slicing timed out after 1 s");
    }

    #[tokio::test]
    async fn a_stopped_slice_ends_at_once_and_says_so() {
        let stop = CancellationToken::new();
        stop.cancel();
        let args = ["-c".into(), "exec sleep 600".into()];
        let outcome = run(Path::new("/bin/sh"), &args, Duration::from_secs(600), &stop).await;
        assert!(matches!(outcome, Err(RunError::Stopped)), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_failing_slicer_is_described_by_its_last_stderr_line() {
        let args = [
            "-c".into(),
            "echo progress; echo 'first' >&2; echo 'it broke' >&2; exit 3".into(),
        ];
        let outcome = run(
            Path::new("/bin/sh"),
            &args,
            Duration::from_secs(600),
            &CancellationToken::new(),
        )
        .await;
        match outcome {
            Err(RunError::Failed { status, message }) => {
                assert_eq!(status.code(), Some(3));
                assert_eq!(message, "it broke");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
