//! Fetching job files from real HTTPS (and plain HTTP) servers on 127.0.0.1.
//!
//! Each test starts an axum server behind tokio-rustls with a certificate from a CA made
//! here with rcgen; the fetcher trusts that CA through `extra_ca_file`, as it would trust a
//! private object store. The server records the path of every request it answers, so tests
//! can tell "refused before asking" from "asked once" from "retried".

mod hosts;
mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fluxprint_gateway::cloud::fetch::{FetchError, Fetched, Fetcher, FileSpec, MAX_REDIRECTS};
use fluxprint_gateway::config::DownloadsConfig;
use fluxprint_gateway::files::{FileKind, FileTypeError};
use rustls::CertificateError;
use tokio::net::TcpListener;
use url::Url;

use server::{LIMIT, PNG, Pki, Server, big_gcode, gcode, pki, sha256_hex};

/// Bound on any one fetch; only reached when the fetcher hangs (3 s of it are backoff).
const PATIENCE: Duration = Duration::from_secs(60);

// ---- helpers ------------------------------------------------------------------------------

fn config(pki: &Pki) -> DownloadsConfig {
    DownloadsConfig {
        max_bytes: LIMIT,
        extra_ca_file: Some(pki.ca_file.clone()),
        // Retries (jittered, 1 s doubling) for a few seconds, not the default 15 minutes:
        // at least four attempts always fit (the waits before them are under 1 + 2 + 4 s).
        retry_budget: RETRY_BUDGET,
        ..DownloadsConfig::default()
    }
}

const RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(8);

fn spec(url: Url, content: &[u8]) -> FileSpec {
    FileSpec {
        name: "benchy.gcode".to_owned(),
        url,
        sha256: sha256_hex(content),
        size: None,
    }
}

async fn fetch(
    config: &DownloadsConfig,
    spec: &FileSpec,
    dir: &Path,
) -> Result<Fetched, FetchError> {
    let fetcher = Fetcher::new(config).unwrap();
    tokio::time::timeout(PATIENCE, fetcher.fetch(spec, dir))
        .await
        .expect("the fetch finished in time")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

// ---- tests --------------------------------------------------------------------------------

#[tokio::test]
async fn a_good_gcode_file_arrives_with_its_hash_size_and_kind() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let mut spec = spec(server.url("good.gcode"), &gcode());
    spec.sha256 = spec.sha256.to_ascii_uppercase();
    spec.size = Some(gcode().len() as u64);

    let fetched = fetch(&config(&pki), &spec, dest.path()).await.unwrap();

    assert_eq!(fetched.sha256, sha256_hex(&gcode()));
    assert_eq!(fetched.size, gcode().len() as u64);
    assert_eq!(fetched.kind, FileKind::GcodeText);
    assert_eq!(fetched.path.parent(), Some(dest.path()));
    assert!(fetched.path.to_str().unwrap().ends_with("-benchy.gcode"));
    assert_eq!(std::fs::read(&fetched.path).unwrap(), gcode());
    assert_eq!(entries(dest.path()), vec![fetched.path]);
    assert_eq!(server.requests(), ["/good.gcode"]);
}

/// Issue #14: no idle connection is kept between downloads (it held its TLS state and a read
/// buffer grown to the last download's pace); each download opens its own.
#[tokio::test]
async fn downloads_keep_no_connection_open_between_them() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(&config(&pki)).unwrap();
    let spec = spec(server.url("good.gcode"), &gcode());
    for _ in 0..2 {
        tokio::time::timeout(PATIENCE, fetcher.fetch(&spec, dest.path()))
            .await
            .expect("the fetch finished in time")
            .unwrap();
    }
    assert_eq!(server.requests(), ["/good.gcode", "/good.gcode"]);
    assert_eq!(
        server.connections(),
        2,
        "the second download reused a kept connection"
    );
}

#[tokio::test]
async fn a_wrong_hash_names_both_hashes_and_leaves_no_file() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("good.gcode"), b"other content");

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(matches!(error, FetchError::HashMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(&sha256_hex(b"other content")), "{message}");
    assert!(message.contains(&sha256_hex(&gcode())), "{message}");
    assert!(entries(dest.path()).is_empty());
    assert_eq!(server.requests(), ["/good.gcode"], "no retry");
}

#[tokio::test]
async fn a_file_announced_over_the_limit_is_refused_before_it_is_read() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("big.gcode"), &big_gcode());

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    let expected = format!(
        "the server announced {} bytes, over the download limit of {LIMIT} bytes (cloud.downloads.max_bytes)",
        big_gcode().len()
    );
    assert_eq!(error.to_string(), expected);
    assert!(entries(dest.path()).is_empty());

    let mut announced = spec.clone();
    announced.size = Some(LIMIT + 1);
    let error = fetch(&config(&pki), &announced, dest.path())
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { who: "the job", .. }),
        "{error}"
    );
    assert_eq!(
        server.requests(),
        ["/big.gcode"],
        "the job's size refused without asking"
    );
}

#[tokio::test]
async fn a_body_without_a_length_is_cut_off_at_the_limit_and_removed() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("stream.gcode"), b"unknown");

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(
        matches!(error, FetchError::OverLimit { limit: LIMIT }),
        "{error}"
    );
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn a_server_sending_more_than_the_job_announced_is_cut_off() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let mut spec = spec(server.url("stream.gcode"), &gcode());
    spec.size = Some(gcode().len() as u64);

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    let expected = format!(
        "the job says the file is {} bytes but the server sent more",
        gcode().len()
    );
    assert_eq!(error.to_string(), expected);
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn not_found_fails_at_once_with_the_status() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("missing.gcode"), &gcode());

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(
        error
            .to_string()
            .ends_with("/missing.gcode answered 404 Not Found"),
        "{error}"
    );
    assert_eq!(
        server.requests(),
        ["/missing.gcode"],
        "a 404 is not retried"
    );
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn service_unavailable_twice_then_ok_succeeds_on_the_third_attempt() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("flaky.gcode"), &gcode());

    let fetched = fetch(&config(&pki), &spec, dest.path()).await.unwrap();

    assert_eq!(std::fs::read(&fetched.path).unwrap(), gcode());
    assert_eq!(server.requests(), ["/flaky.gcode"; 3]);
}

#[tokio::test]
async fn content_that_is_not_gcode_under_a_gcode_name_is_refused_like_an_upload() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("picture.gcode"), PNG);

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(
        matches!(error, FetchError::Kind(FileTypeError::Mismatch { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("does not look like G-code text"),
        "{error}"
    );
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn an_unsupported_file_name_is_refused_before_any_request() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let mut spec = spec(server.url("good.gcode"), &gcode());
    spec.name = "setup.exe".to_owned();

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(
        matches!(error, FetchError::Kind(FileTypeError::NotAccepted { .. })),
        "{error}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let pki = pki();
    let server = Server::https(&pki.stranger).await;
    let dest = tempfile::tempdir().unwrap();
    let spec = spec(server.url("good.gcode"), &gcode());

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    match &error {
        FetchError::Tls { host, reason } => {
            assert_eq!(host, "127.0.0.1");
            assert!(
                matches!(
                    reason,
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                ),
                "{reason:?}"
            );
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
    assert!(server.requests().is_empty());
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn a_malformed_hash_in_the_job_is_refused_before_any_request() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let mut spec = spec(server.url("good.gcode"), &gcode());
    spec.sha256 = "not-a-hash".to_owned();

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    assert!(matches!(error, FetchError::BadSha256 { .. }), "{error}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported_with_its_cause() {
    let pki = pki();
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "https://{}/good.gcode",
        closed.local_addr().unwrap()
    ))
    .unwrap();
    drop(closed);
    let dest = tempfile::tempdir().unwrap();

    let error = fetch(&config(&pki), &spec(url, &gcode()), dest.path())
        .await
        .unwrap_err();

    assert!(
        matches!(error, FetchError::Network { attempts: 4.., .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("refused"), "{message}");
    assert!(message.ends_with(" attempts)"), "{message}");
    assert!(entries(dest.path()).is_empty());
}

#[tokio::test]
async fn a_length_that_disagrees_with_the_job_is_refused() {
    let pki = pki();
    let server = Server::https(&pki.trusted).await;
    let dest = tempfile::tempdir().unwrap();
    let mut spec = spec(server.url("good.gcode"), &gcode());
    spec.size = Some(10);

    let error = fetch(&config(&pki), &spec, dest.path()).await.unwrap_err();

    let expected = format!(
        "the job says the file is 10 bytes but the server sent {} bytes",
        gcode().len()
    );
    assert_eq!(error.to_string(), expected);
    assert!(entries(dest.path()).is_empty());
}
