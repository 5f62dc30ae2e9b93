//! The enrolled identity on disk, in `<state_dir>/cloud/`: the key (`gateway.key`, 0600,
//! made here and never sent anywhere), the request in flight (`enroll.json`, its id, so a
//! restarted enrollment asks again under the same id with the same key), and the
//! certificate (`gateway.pem`), written last. Every file is written whole under a temporary
//! name and renamed, so a crash leaves either the old file or the new one, never half.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::KeyPair;

use crate::config::{IDENTITY_CERT, IDENTITY_DIR, IDENTITY_KEY};

/// Mode of the private key files: the gateway's user only.
pub const KEY_MODE: u32 = 0o600;
/// Mode of the identity directory.
const DIR_MODE: u32 = 0o700;
const REQUEST_FILE: &str = "enroll.json";

/// Why a file of the identity could not be read or written; names the file.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} holds no usable private key: {source}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The identity directory and the paths in it.
#[derive(Debug, Clone)]
pub struct IdentityDir {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    request: PathBuf,
}

impl IdentityDir {
    pub fn new(state_dir: &Path) -> IdentityDir {
        let dir = state_dir.join(IDENTITY_DIR);
        IdentityDir {
            cert: dir.join(IDENTITY_CERT),
            key: dir.join(IDENTITY_KEY),
            request: dir.join(REQUEST_FILE),
            dir,
        }
    }

    /// Creates the directory (0700) if needed.
    pub fn prepare(&self) -> Result<(), FilesError> {
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(DIR_MODE))
            .map_err(io_error(&self.dir))
    }

    /// The key of an enrollment begun earlier, or a new one written now (0600).
    pub fn load_or_make_key(&self) -> Result<KeyPair, FilesError> {
        match fs::read_to_string(&self.key) {
            Ok(pem) => KeyPair::from_pem(&pem).map_err(|source| FilesError::Key {
                path: self.key.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = new_key(&self.key)?;
                write_atomic(&self.key, key.serialize_pem().as_bytes(), KEY_MODE)?;
                Ok(key)
            }
            Err(source) => Err(FilesError::Io {
                path: self.key.clone(),
                source,
            }),
        }
    }

    /// The id of the request in flight, or a new one remembered now.
    pub fn request_id(&self) -> Result<String, FilesError> {
        if let Ok(text) = fs::read_to_string(&self.request)
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(id) = value["id"].as_str()
        {
            return Ok(id.to_owned());
        }
        let id = new_request_id();
        let text = serde_json::json!({ "id": id }).to_string();
        write_atomic(&self.request, text.as_bytes(), 0o644)?;
        Ok(id)
    }

    /// Stores the certificate (which makes the enrollment complete) and forgets the request.
    pub fn finish(&self, certificate_pem: &str) -> Result<(), FilesError> {
        write_atomic(&self.cert, certificate_pem.as_bytes(), 0o644)?;
        match fs::remove_file(&self.request) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(FilesError::Io {
                path: self.request.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

/// A new ECDSA P-256 key (ring).
pub fn new_key(path: &Path) -> Result<KeyPair, FilesError> {
    KeyPair::generate().map_err(|source| FilesError::Key {
        path: path.to_owned(),
        source,
    })
}

/// 128 random bits in hex: the contract's `request_id`, also a topic segment.
fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Writes `bytes` to `path` through a temporary file created with `mode` (so a key is never
/// readable by others, not even for a moment), synced, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FilesError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    let _ = fs::remove_file(&temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(io_error(&temporary))?;
    file.write_all(bytes).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable only once the directory is synced.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}
