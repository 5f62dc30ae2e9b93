//! The API key: where it comes from (config, or generated once into the state directory),
//! how a request presents it (`X-Api-Key`, `Authorization: Bearer`, and for the WebSocket a
//! `?api_key=` query, since browsers cannot set headers there), and the two gates: control
//! and upload routes always need it, read-only routes only when `public_status` is off.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::Secret;
use crate::web::WebState;

/// The file in the state directory that holds a generated key.
pub const KEY_FILE: &str = "api-key";
/// The one route that may carry the key in its query string.
const WS_PATH: &str = "/api/ws";

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("cannot read the API key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the API key file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the API key file {path} is empty or holds whitespace inside the key; delete it to get a new key"
    )]
    Malformed { path: PathBuf },
}

/// The key to require: the configured one, else the one in `<state_dir>/api-key`, else a new
/// one (32 random bytes, hex) written there with mode 0600.
pub fn load_or_generate_api_key(
    state_dir: &Path,
    configured: Option<&Secret>,
) -> Result<Secret, ApiKeyError> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    let path = state_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_key_file(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(state_dir, &path),
        Err(source) => Err(ApiKeyError::Read { path, source }),
    }
}

fn parse_key_file(path: &Path, text: &str) -> Result<Secret, ApiKeyError> {
    let key = text.trim();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiKeyError::Malformed {
            path: path.to_path_buf(),
        });
    }
    let shared = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
    if shared {
        tracing::warn!(file = %path.display(), "the API key file is readable by others; chmod 600 it");
    }
    Ok(Secret::new(key))
}

fn generate(state_dir: &Path, path: &Path) -> Result<Secret, ApiKeyError> {
    let write_err = |source| ApiKeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(write_err)?;
    let bytes: [u8; 32] = rand::random();
    let key = hex::encode(bytes);
    // Written under a temporary name and renamed, so a crash never leaves half a key behind.
    let tmp = state_dir.join(format!("{KEY_FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    file.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_err)?;
    give_to_state_dir_owner(state_dir, &tmp).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)?;
    tracing::info!(file = %path.display(), "generated the LAN API key");
    Ok(Secret::new(key))
}

/// `api-key` run as root must not leave a file the gateway's own user cannot read.
fn give_to_state_dir_owner(state_dir: &Path, file: &Path) -> std::io::Result<()> {
    let dir = std::fs::metadata(state_dir)?;
    let mine = std::fs::metadata(file)?;
    if dir.uid() != mine.uid() || dir.gid() != mine.gid() {
        std::os::unix::fs::chown(file, Some(dir.uid()), Some(dir.gid()))?;
    }
    Ok(())
}

/// The key a request carries in `X-Api-Key` or `Authorization: Bearer`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// Compares in constant time; hashing first keeps the key's length out of the timing too.
pub fn key_matches(expected: &Secret, candidate: &str) -> bool {
    let want = Sha256::digest(expected.expose().as_bytes());
    let got = Sha256::digest(candidate.as_bytes());
    want.ct_eq(&got).into()
}

fn query_key(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "api_key")
        .map(|(_, value)| value.into_owned())
}

impl WebState {
    /// Whether the request carries the right key (headers; the WebSocket also its query).
    pub fn authorized(&self, request: &Request) -> bool {
        if presented_key(request.headers()).is_some_and(|k| key_matches(&self.api_key, k)) {
            return true;
        }
        request.uri().path() == WS_PATH
            && query_key(request).is_some_and(|k| key_matches(&self.api_key, &k))
    }
}

/// Gate for control and upload routes.
pub async fn require_key(
    State(state): State<Arc<WebState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.authorized(&request) {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// Gate for the page and read-only routes: open when `public_status`, else like control.
pub async fn read_access(
    State(state): State<Arc<WebState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.public_status || state.authorized(&request) {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_generated_key_is_64_hex_characters_in_a_private_file_and_stays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate_api_key(dir.path(), None).unwrap();
        assert_eq!(first.expose().len(), 64);
        assert!(first.expose().chars().all(|c| c.is_ascii_hexdigit()));
        let meta = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let again = load_or_generate_api_key(dir.path(), None).unwrap();
        assert_eq!(again.expose(), first.expose());
    }

    #[test]
    fn a_configured_key_wins_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let key = load_or_generate_api_key(dir.path(), Some(&Secret::new("mine"))).unwrap();
        assert_eq!(key.expose(), "mine");
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn an_empty_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "\n").unwrap();
        let e = load_or_generate_api_key(dir.path(), None).unwrap_err();
        assert!(e.to_string().contains(KEY_FILE), "{e}");
    }

    #[test]
    fn the_key_is_read_from_either_header_and_bearer_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert("x-api-key", HeaderValue::from_static("k1"));
        assert_eq!(presented_key(&headers), Some("k1"));
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer k2"));
        assert_eq!(presented_key(&headers), Some("k2"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic k2"));
        assert_eq!(presented_key(&headers), None);
    }

    #[test]
    fn keys_match_only_when_equal() {
        let key = Secret::new("abc123");
        assert!(key_matches(&key, "abc123"));
        assert!(!key_matches(&key, "abc124"));
        assert!(!key_matches(&key, "abc1234"));
        assert!(!key_matches(&key, ""));
    }
}
