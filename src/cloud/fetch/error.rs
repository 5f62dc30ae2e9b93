//! Why a job file could not be fetched, worded for the person who reads the job's error.
//!
//! Each message names the URL (without its query string, which often carries a signature),
//! the number or the setting at fault, so "failed" never needs a log dive to be understood.
//! The retry loop asks `is_retryable` and then stamps the number of attempts on the error.

use std::io;
use std::path::PathBuf;

use reqwest::StatusCode;
use rustls_pki_types::pem;

use crate::files::KindError;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read the extra CA file {path} (cloud.downloads.extra_ca_file)")]
    CaFileRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the extra CA file {path} is not valid PEM")]
    CaFilePem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("the extra CA file {path} holds no PEM certificate")]
    CaFileEmpty { path: PathBuf },
    #[error("cannot set up server certificate checks from the system CAs and the extra CA file")]
    Verifier {
        #[source]
        source: rustls::Error,
    },
    #[error("cannot set up the HTTPS client")]
    Client {
        #[source]
        source: reqwest::Error,
    },
    #[error("the job's file hash {value:?} is not a SHA-256 (64 hexadecimal digits)")]
    BadSha256 { value: String },
    #[error(
        "{url}: {scheme}:// downloads are not allowed; files come over https:// (plain http:// only for hosts in cloud.downloads.allow_http_hosts)"
    )]
    Scheme { url: String, scheme: String },
    #[error("{url} names no host")]
    NoHost { url: String },
    #[error("host {host} is not in cloud.downloads.allow_hosts")]
    HostNotAllowed { host: String },
    #[error("{url} redirected more than {max} times")]
    TooManyRedirects { url: String, max: usize },
    #[error("{url} answered {status} without a usable Location header")]
    BadRedirect { url: String, status: StatusCode },
    #[error("{url} answered {status}{}", tries(*attempts))]
    Status {
        url: String,
        status: StatusCode,
        attempts: u32,
    },
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        host: String,
        /// Kept as data, not as `source`: its text is already in the message.
        reason: rustls::Error,
    },
    #[error("{url}: {cause}{}", tries(*attempts))]
    Network {
        url: String,
        /// The innermost cause in words ("Connection refused (os error 111)", "timed out").
        cause: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: the transfer took longer than {seconds} s{}", tries(*attempts))]
    TransferTimeout {
        url: String,
        seconds: u64,
        attempts: u32,
    },
    #[error(
        "{who} announced {size} bytes, over the download limit of {limit} bytes (cloud.downloads.max_bytes)"
    )]
    TooLarge {
        who: &'static str,
        size: u64,
        limit: u64,
    },
    #[error(
        "the server sent more than the download limit of {limit} bytes (cloud.downloads.max_bytes); the download was cut off"
    )]
    OverLimit { limit: u64 },
    #[error("the job says the file is {expected} bytes but the server sent {actual}")]
    SizeMismatch { expected: u64, actual: String },
    #[error("SHA-256 mismatch: the job expects {expected}, the downloaded file has {actual}")]
    HashMismatch { expected: String, actual: String },
    #[error(transparent)]
    Kind(#[from] KindError),
    #[error("cannot write the download to {path}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// " (3 attempts)" after a message when the fetch was tried more than once.
fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}

impl FetchError {
    /// Whether another attempt may succeed: network trouble and the server's own trouble
    /// (5xx, 429). Never refusals by policy, 4xx answers, or content that is wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Network { .. } | FetchError::TransferTimeout { .. } => true,
            FetchError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// The same error, saying how many attempts were made (where that matters).
    pub(super) fn after_attempts(mut self, count: u32) -> Self {
        if let FetchError::Status { attempts, .. }
        | FetchError::Network { attempts, .. }
        | FetchError::TransferTimeout { attempts, .. } = &mut self
        {
            *attempts = count;
        }
        self
    }

    /// A failed request: a TLS refusal if rustls is somewhere in the causes, else network.
    pub(super) fn from_request(url: &url::Url, error: reqwest::Error) -> Self {
        if let Some(reason) = tls_cause(&error) {
            return FetchError::Tls {
                host: url.host_str().unwrap_or("").to_owned(),
                reason: reason.clone(),
            };
        }
        let error = error.without_url();
        FetchError::Network {
            url: shown(url),
            cause: innermost(&error),
            attempts: 1,
            source: error,
        }
    }
}

/// The rustls error behind a failed request, if any.
fn tls_cause(error: &reqwest::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = cause(current);
    }
    None
}

/// The message of the deepest cause: the one that says what actually happened.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = cause(current) {
        current = next;
    }
    current.to_string()
}

/// The error behind `error`. `io::Error::source` skips the error an `io::Error` wraps (and
/// connection errors come as nested `io::Error`s), so those are opened with `get_ref`.
fn cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    match error.downcast_ref::<io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as _),
        None => error.source(),
    }
}

/// A URL as it may appear in messages and logs: no user info, query or fragment, which is
/// where pre-signed object-store URLs keep their credentials.
pub(super) fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Both only fail for URLs that cannot have user info, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_lose_credentials_query_and_fragment() {
        let url =
            url::Url::parse("https://user:pw@store.example/b/part.gcode?X-Sig=abc#f").unwrap();
        assert_eq!(shown(&url), "https://store.example/b/part.gcode");
    }

    #[test]
    fn only_server_trouble_and_rate_limits_are_retried() {
        let status = |code: u16| FetchError::Status {
            url: "https://h/".to_owned(),
            status: StatusCode::from_u16(code).unwrap(),
            attempts: 1,
        };
        assert!(status(503).is_retryable());
        assert!(status(500).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!status(403).is_retryable());
        let mismatch = FetchError::HashMismatch {
            expected: "a".into(),
            actual: "b".into(),
        };
        assert!(!mismatch.is_retryable());
        assert!(!FetchError::OverLimit { limit: 1 }.is_retryable());
    }

    #[test]
    fn the_attempt_count_appears_only_after_retries() {
        let error = FetchError::Status {
            url: "https://h/f.gcode".to_owned(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            attempts: 1,
        };
        assert_eq!(
            error.to_string(),
            "https://h/f.gcode answered 503 Service Unavailable"
        );
        assert_eq!(
            error.after_attempts(3).to_string(),
            "https://h/f.gcode answered 503 Service Unavailable (3 attempts)"
        );
    }
}
