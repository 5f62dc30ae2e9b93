//! Process-wide logging: one `tracing` subscriber, to journald under systemd, else stderr.
//!
//! The level comes from the configuration; `RUST_LOG` (`target=level` directives separated by
//! commas, a bare level for everything else: `tracing_subscriber::filter::Targets`)
//! replaces it when set, for debugging one module without editing the config. Under systemd
//! (`JOURNAL_STREAM` names our stderr) events go to journald with their fields and priority;
//! if journald cannot be reached they go to stderr, which systemd also collects. Outside
//! systemd, stderr gets human-readable lines, coloured only when it is a terminal.

use std::fs::{File, Metadata};
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::filter::{LevelFilter, ParseError, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

/// The level names `init` accepts, in increasing verbosity.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log level {level:?}: expected one of off, error, warn, info, debug, trace")]
    InvalidLevel { level: String },
    #[error("invalid RUST_LOG={value:?}")]
    InvalidRustLog {
        value: String,
        #[source]
        source: ParseError,
    },
    #[error("a global logger is already installed")]
    AlreadyInitialised {
        #[source]
        source: TryInitError,
    },
}

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(level: &str) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = build_filter(level, rust_log.as_deref())?;

    let (journald, journald_error) = match std::env::var("JOURNAL_STREAM") {
        Ok(stream) if stderr_is_journal_stream(&stream) => match tracing_journald::layer() {
            Ok(layer) => (Some(layer), None),
            Err(error) => (None, Some(error)),
        },
        _ => (None, None),
    };
    let stderr = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
    });

    tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(stderr)
        .try_init()
        .map_err(|source| LoggingError::AlreadyInitialised { source })?;

    if let Some(error) = journald_error {
        tracing::warn!(
            error = &error as &dyn std::error::Error,
            "journald is unreachable; logging to stderr"
        );
    }
    Ok(())
}

/// The filter: `rust_log` when given and non-empty, else `level`. The level is checked even
/// when `RUST_LOG` replaces it, so a bad config value never hides until the next restart.
///
/// `Targets` rather than `EnvFilter`: the span and field directives of `EnvFilter` need a
/// regex engine, 0.2 MB of binary and so of resident memory (issue #14), for a debugging aid
/// nobody here used; `target=level` directives work the same.
fn build_filter(level: &str, rust_log: Option<&str>) -> Result<Targets, LoggingError> {
    let level = parse_level(level)?;
    match rust_log.filter(|value| !value.trim().is_empty()) {
        Some(value) => value
            .parse()
            .map_err(|source| LoggingError::InvalidRustLog {
                value: value.to_owned(),
                source,
            }),
        None => Ok(Targets::new().with_default(level)),
    }
}

/// A configured log level: one of [`LEVELS`], in any case (also what `check-config` accepts).
pub fn parse_level(level: &str) -> Result<LevelFilter, LoggingError> {
    let invalid = || LoggingError::InvalidLevel {
        level: level.to_owned(),
    };
    // LevelFilter also takes "" and digits; the config only speaks level names.
    if !LEVELS.iter().any(|name| name.eq_ignore_ascii_case(level)) {
        return Err(invalid());
    }
    level.parse().map_err(|_| invalid())
}

/// systemd sets `JOURNAL_STREAM=<device>:<inode>` of the stream it connected to stderr; when
/// stderr has since been redirected elsewhere the values no longer match and we keep stderr.
fn stderr_is_journal_stream(value: &str) -> bool {
    let Ok(stderr) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    File::from(stderr)
        .metadata()
        .is_ok_and(|metadata| matches_journal_stream(value, &metadata))
}

fn matches_journal_stream(value: &str, metadata: &Metadata) -> bool {
    let Some((device, inode)) = value.trim().split_once(':') else {
        return false;
    };
    device.parse() == Ok(metadata.dev()) && inode.parse() == Ok(metadata.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_are_accepted_in_any_case() {
        for level in ["off", "error", "Warn", "INFO", "debug", "trace"] {
            assert!(build_filter(level, None).is_ok(), "{level}");
        }
        let filter = build_filter("debug", None).unwrap();
        assert_eq!(filter.default_level(), Some(LevelFilter::DEBUG));
    }

    #[test]
    fn invalid_level_is_an_error_naming_it() {
        for level in ["loud", "", "3", "info,foo=debug"] {
            let error = build_filter(level, None).unwrap_err();
            assert!(
                matches!(error, LoggingError::InvalidLevel { .. }),
                "{level}"
            );
            assert!(error.to_string().contains(&format!("{level:?}")), "{error}");
        }
    }

    #[test]
    fn rust_log_replaces_the_configured_level() {
        let filter = build_filter("warn", Some("fluxprint_gateway=trace")).unwrap();
        assert_eq!(filter.to_string(), "fluxprint_gateway=trace");
        let filter = build_filter("warn", Some("  ")).unwrap();
        assert_eq!(filter.default_level(), Some(LevelFilter::WARN));
    }

    #[test]
    fn invalid_rust_log_is_an_error_naming_it() {
        let error = build_filter("info", Some("fluxprint=chatty")).unwrap_err();
        assert!(matches!(error, LoggingError::InvalidRustLog { .. }));
        assert!(error.to_string().contains("fluxprint=chatty"), "{error}");
    }

    #[test]
    fn journal_stream_must_name_the_very_file_stderr_points_at() {
        let file = tempfile::tempfile().unwrap();
        let metadata = file.metadata().unwrap();
        let own = format!("{}:{}", metadata.dev(), metadata.ino());
        let other = format!("{}:{}", metadata.dev(), metadata.ino() + 1);

        assert!(matches_journal_stream(&own, &metadata));
        assert!(!matches_journal_stream(&other, &metadata));
        assert!(!matches_journal_stream("journal", &metadata));
        assert!(!matches_journal_stream("", &metadata));
    }
}
