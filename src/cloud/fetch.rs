//! Fetching a job's file from the URL in a cloud `job.submit`: HTTPS only (plain HTTP for
//! listed hosts), optional host allow-list on every redirect hop, a size cap enforced before
//! and while streaming, timeouts, retries with backoff for transient trouble, and the same
//! checks as LAN uploads (SHA-256 from the job, file kind by name and content).
//!
//! The caller shows the job as `fetching` while `Fetcher::fetch` runs; an `Err` carries a
//! reason worth showing to a person. The body streams to a partial file in the destination
//! directory that is renamed into place only after every check passed, and removed otherwise.

mod body;
mod client;
mod error;
mod policy;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

use self::body::{Bound, Partial, Received};
use self::error::shown;
use self::policy::UrlPolicy;
use crate::config::DownloadsConfig;
use crate::files::{self, FileKind, FileTypeError};

pub use self::client::{CONNECT_TIMEOUT, IDLE_TIMEOUT};
pub use self::error::FetchError;
pub use self::policy::MAX_REDIRECTS;

/// The ceiling of the wait before the second attempt; it doubles before each further one up
/// to `BACKOFF_CAP`, and the wait is uniformly random below it (full jitter), so a fleet whose
/// downloads all failed at once (one file server, every gateway) does not retry in lockstep.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The slowest transfer rate tolerated, in bytes per second: a body gets
/// `TRANSFER_GRACE + length / MIN_RATE` to arrive. It stops a server trickling bytes just
/// fast enough to dodge the idle timeout, while a slow but honest link still gets through.
const MIN_RATE: u64 = 16 * 1024;
const TRANSFER_GRACE: Duration = Duration::from_secs(60);

/// The file named in a `job.submit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// The display name; its extension decides the expected kind.
    pub name: String,
    pub url: Url,
    /// Hex SHA-256 of the content, either case.
    pub sha256: String,
    /// The size in bytes, if the cloud announced it.
    pub size: Option<u64>,
}

/// A file that arrived and passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Where it is now: in the destination directory, named `<sha256 prefix>-<safe name>`.
    pub path: PathBuf,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    pub size: u64,
    pub kind: FileKind,
}

/// A release that arrived with the SHA-256 it was signed for (`fetch_release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// A file that arrived, with its kind when it was checked.
struct Landed {
    path: PathBuf,
    sha256: String,
    size: u64,
    kind: Option<FileKind>,
}

/// Downloads job files under the `[cloud.downloads]` rules. Cheap to clone and to share:
/// the HTTP client inside pools its connections.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: UrlPolicy,
    max_bytes: u64,
    retry_budget: Duration,
}

impl Fetcher {
    /// A fetcher for `config`; reads the system CAs and the extra CA file now.
    pub fn new(config: &DownloadsConfig) -> Result<Fetcher, FetchError> {
        Ok(Fetcher {
            client: client::build(config)?,
            policy: UrlPolicy::new(config),
            max_bytes: config.max_bytes,
            retry_budget: config.retry_budget,
        })
    }

    /// How long after its start a fetch may still begin another attempt.
    pub fn retry_budget(&self) -> Duration {
        self.retry_budget
    }

    /// Downloads `spec` into `dest_dir` (which must exist), checking everything the job
    /// promises. Retries transient trouble with jittered backoff while the retry budget
    /// lasts; refusals are final at once.
    pub async fn fetch(&self, spec: &FileSpec, dest_dir: &Path) -> Result<Fetched, FetchError> {
        let landed = self.fetch_as(spec, dest_dir, Contents::JobFile).await?;
        Ok(Fetched {
            path: landed.path,
            sha256: landed.sha256,
            size: landed.size,
            kind: landed.kind.expect("a job file's kind is always checked"),
        })
    }

    /// Downloads a release (`gateway.update`) under the same rules as a job file, except the
    /// file-kind check: a binary is neither G-code nor a model. Its SHA-256 is still checked.
    pub async fn fetch_release(
        &self,
        spec: &FileSpec,
        dest_dir: &Path,
    ) -> Result<Release, FetchError> {
        let landed = self.fetch_as(spec, dest_dir, Contents::Release).await?;
        Ok(Release {
            path: landed.path,
            sha256: landed.sha256,
            size: landed.size,
        })
    }

    async fn fetch_as(
        &self,
        spec: &FileSpec,
        dest_dir: &Path,
        contents: Contents,
    ) -> Result<Landed, FetchError> {
        let expected = self.precheck(spec, contents)?;
        let give_up = tokio::time::Instant::now() + self.retry_budget;
        let mut backoff = crate::cloud::session::Backoff::new(FIRST_BACKOFF, BACKOFF_CAP);
        let mut attempt = 1;
        loop {
            match self.attempt(spec, &expected, dest_dir, contents).await {
                Ok(fetched) => return Ok(fetched),
                Err(error) if error.is_retryable() => {
                    let delay = backoff.next_delay(&mut rand::rng());
                    if tokio::time::Instant::now() + delay > give_up {
                        return Err(error.after_attempts(attempt));
                    }
                    tracing::warn!(url = %shown(&spec.url), attempt, %error, retry_in = ?delay,
                        "fetch failed, retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error.after_attempts(attempt)),
            }
        }
    }

    /// Everything that can be refused before any request: the hash's form, the announced
    /// size, the name's extension and the URL. Returns the expected hash in lowercase.
    fn precheck(&self, spec: &FileSpec, contents: Contents) -> Result<String, FetchError> {
        let expected = spec.sha256.to_ascii_lowercase();
        if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::BadSha256 {
                value: spec.sha256.clone(),
            });
        }
        self.check_announced("the job", spec.size)?;
        // `detect` judges the extension before the content, so an empty head refuses
        // unsupported names without downloading anything.
        if contents == Contents::JobFile
            && let Err(error @ FileTypeError::NotAccepted { .. }) = FileKind::from_name(&spec.name)
        {
            return Err(error.into());
        }
        self.policy.check(&spec.url)?;
        Ok(expected)
    }

    fn check_announced(&self, who: &'static str, size: Option<u64>) -> Result<(), FetchError> {
        match size {
            Some(size) if size > self.max_bytes => Err(FetchError::TooLarge {
                who,
                size,
                limit: self.max_bytes,
            }),
            _ => Ok(()),
        }
    }

    /// One try: follow redirects to the file, stream it to disk, check it, move it in place.
    async fn attempt(
        &self,
        spec: &FileSpec,
        expected: &str,
        dest_dir: &Path,
        contents: Contents,
    ) -> Result<Landed, FetchError> {
        let (url, response) = self.open(&spec.url).await?;
        let announced = response.content_length();
        let bound = self.bound(spec, announced)?;
        let deadline = transfer_deadline(announced.unwrap_or(bound.limit));
        let mut partial = Partial::create(dest_dir).await?;
        let received =
            tokio::time::timeout(deadline, body::receive(&url, response, &mut partial, bound))
                .await
                .map_err(|_| FetchError::TransferTimeout {
                    url: shown(&url),
                    seconds: deadline.as_secs(),
                    attempts: 1,
                })??;
        let kind = verify(spec, expected, &received, contents)?;
        let path = dest_dir.join(final_name(&received.sha256, &spec.name));
        partial.finish(&path).await?;
        Ok(Landed {
            path,
            sha256: received.sha256,
            size: received.size,
            kind,
        })
    }

    /// How many bytes this response may bring, refusing it outright when the server's own
    /// Content-Length is over the limit or disagrees with the job.
    fn bound(&self, spec: &FileSpec, announced: Option<u64>) -> Result<Bound, FetchError> {
        self.check_announced("the server", announced)?;
        match (spec.size, announced) {
            (Some(expected), Some(actual)) if expected != actual => Err(FetchError::SizeMismatch {
                expected,
                actual: format!("{actual} bytes"),
            }),
            (Some(size), _) => Ok(Bound {
                limit: size,
                announced: true,
            }),
            (None, _) => Ok(Bound {
                limit: self.max_bytes,
                announced: false,
            }),
        }
    }

    /// GETs `url`, following at most `MAX_REDIRECTS` redirects, each target checked against
    /// the policy. Returns the final URL and its `200 OK` response.
    async fn open(&self, start: &Url) -> Result<(Url, reqwest::Response), FetchError> {
        let mut url = start.clone();
        let mut redirects = 0;
        loop {
            self.policy.check(&url)?;
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|error| FetchError::from_request(&url, error))?;
            let status = response.status();
            if policy::is_redirect(status) {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(FetchError::TooManyRedirects {
                        url: shown(start),
                        max: MAX_REDIRECTS,
                    });
                }
                url = policy::redirect_target(&url, status, response.headers())?;
                continue;
            }
            if status != StatusCode::OK {
                return Err(FetchError::Status {
                    url: shown(&url),
                    status,
                    attempts: 1,
                });
            }
            return Ok((url, response));
        }
    }
}

/// The checks every job file passes, whichever door it came through: the promised size and
/// hash, then the kind by name and content (as for LAN uploads).
fn verify(
    spec: &FileSpec,
    expected: &str,
    received: &Received,
    contents: Contents,
) -> Result<Option<FileKind>, FetchError> {
    if let Some(size) = spec.size
        && size != received.size
    {
        return Err(FetchError::SizeMismatch {
            expected: size,
            actual: format!("{} bytes", received.size),
        });
    }
    if received.sha256 != expected {
        return Err(FetchError::HashMismatch {
            expected: expected.to_owned(),
            actual: received.sha256.clone(),
        });
    }
    match contents {
        Contents::JobFile => Ok(Some(files::detect(
            &spec.name,
            &received.head,
            received.size,
        )?)),
        Contents::Release => Ok(None),
    }
}

/// What a download is expected to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contents {
    /// A job's file: its kind is checked by name and content.
    JobFile,
    /// A gateway release: any bytes with the signed SHA-256.
    Release,
}

/// `<first 12 hex digits of the hash>-<sanitised name>`: distinct files never share a name,
/// and the person's file name stays recognisable.
fn final_name(sha256: &str, name: &str) -> String {
    format!("{}-{}", &sha256[..12], files::sanitise(name))
}

/// How long a body of `length` bytes may take to arrive.
fn transfer_deadline(length: u64) -> Duration {
    TRANSFER_GRACE + Duration::from_secs(length / MIN_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_carry_a_hash_prefix_and_no_path() {
        let sha = "ab".repeat(32);
        assert_eq!(
            final_name(&sha, "../../etc/benchy.gcode"),
            "abababababab-benchy.gcode"
        );
    }

    #[test]
    fn the_transfer_deadline_grows_with_the_length() {
        assert_eq!(transfer_deadline(0), TRANSFER_GRACE);
        let hundred_mb = transfer_deadline(104_857_600);
        assert_eq!(hundred_mb, TRANSFER_GRACE + Duration::from_secs(6400));
    }
}
