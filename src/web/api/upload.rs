//! Receiving a multipart upload: the `file` part streams to a temporary file in the files
//! directory, chunk by chunk (never whole in memory), hashed with SHA-256 on the way, checked
//! against the size limit as it grows and against its claimed type as soon as the first KiB
//! is in. Small text parts (`material`, `print`, …) are collected with a cap each.
//!
//! The temporary file belongs to a guard (`files::FileGuard`) that removes it when dropped, so
//! every way out (an error, a refused type, a client that hangs up mid-upload and so drops
//! the handler) leaves nothing behind. The complete file goes to the gateway's intake
//! (`Gateway::queue_file`, `Gateway::keep_file`), which stores it under its hash.

use std::collections::HashMap;
use std::path::Path;

use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::error::ApiError;
use crate::files::{FileGuard, FileKind, FileTypeError, HEAD_BYTES, sanitise};
use crate::gateway::{IncomingFile, IntakeError};
use crate::gcode::along::Along;
use crate::web::live::WebMetrics;

/// Prefix and suffix of temporary upload files (leftovers are removed at start-up).
pub const TEMP_PREFIX: &str = ".upload-";
pub const TEMP_SUFFIX: &str = ".part";
/// Text parts are names and flags; anything longer is not a form we know. Counted in
/// characters, as the API document's `maxLength` counts them (at most 4 bytes each).
const MAX_TEXT_CHARS: usize = 1024;
const MAX_TEXT_BYTES: usize = 4 * MAX_TEXT_CHARS;
const MAX_TEXT_PARTS: usize = 16;
/// Disk writes in pieces this big (an SD card likes few, large writes).
const WRITE_BUFFER: usize = 256 * 1024;

/// Everything a multipart upload carried.
#[derive(Debug)]
pub struct Upload {
    /// Complete and checked, still under its temporary name; the gateway's intake stores it.
    pub file: IncomingFile,
    pub fields: HashMap<String, String>,
}

impl Upload {
    /// A text part, trimmed; absent when missing or empty.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// A boolean text part as OctoPrint reads it (`true`, `yes`, `1`, `on`).
    pub fn flag(&self, name: &str) -> bool {
        is_set(&self.fields, name)
    }

    /// Counts, for G-code about to be analysed, whether the pass ran along the upload or
    /// the stored file is read again (`fluxprint_gcode_uploads_analysed_total`).
    pub fn count_analysis(&self, metrics: &WebMetrics) {
        if self.file.kind == FileKind::GcodeText {
            metrics.gcode_upload_analysed(self.file.analysed.is_some());
        }
    }
}

/// Whether the text part `name` is a true boolean as OctoPrint reads it.
fn is_set(fields: &HashMap<String, String>, name: &str) -> bool {
    fields.get(name).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on"
        )
    })
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> ApiError {
        match e {
            IntakeError::File(e) => ApiError::Io(e),
            IntakeError::Command(e) => ApiError::Command(e),
            IntakeError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<FileTypeError> for ApiError {
    fn from(e: FileTypeError) -> ApiError {
        match e {
            FileTypeError::Empty { .. } => ApiError::BadRequest(e.to_string()),
            e => ApiError::UnsupportedType(e.to_string()),
        }
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
}

/// Whether a G-code file part is also analysed as it arrives (`gcode::along`).
#[derive(Debug, Clone, Copy)]
pub enum Analyse {
    No,
    /// The request is this many bytes long (its `Content-Length`).
    Along {
        request_bytes: u64,
    },
    /// As `Along` when a text part `flag` set true came before the file part; otherwise
    /// `No`. OctoPrint's `print`: a file sent to be printed is analysed before it is
    /// queued, one only stored is not, and PrusaSlicer and OrcaSlicer send `print` first.
    AlongIf {
        request_bytes: u64,
        flag: &'static str,
    },
}

impl Analyse {
    /// Analysing along needs the request's length; without one the intake reads the file.
    pub fn along(headers: &HeaderMap) -> Analyse {
        let length = (headers.get(CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        match length {
            Some(request_bytes) => Analyse::Along { request_bytes },
            None => Analyse::No,
        }
    }

    /// [`Analyse::along`] when the text part `flag` before the file says so.
    pub fn along_if(headers: &HeaderMap, flag: &'static str) -> Analyse {
        match Analyse::along(headers) {
            Analyse::Along { request_bytes } => Analyse::AlongIf {
                request_bytes,
                flag,
            },
            other => other,
        }
    }

    /// What to do for a file part that follows the text parts `fields`.
    fn given(self, fields: &HashMap<String, String>) -> Analyse {
        match self {
            Analyse::AlongIf {
                request_bytes,
                flag,
            } if is_set(fields, flag) => Analyse::Along { request_bytes },
            Analyse::AlongIf { .. } => Analyse::No,
            other => other,
        }
    }
}

/// Reads the whole multipart body; the `file` part goes to a temporary file in `files_dir`.
pub async fn receive(
    multipart: Result<Multipart, MultipartRejection>,
    files_dir: &Path,
    max_bytes: u64,
    analyse: Analyse,
) -> Result<Upload, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a multipart/form-data body: {}",
            e.body_text()
        ))
    })?;
    let mut file = None;
    let mut fields = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if file.is_some() {
                return Err(ApiError::BadRequest("one file per upload".into()));
            }
            let analyse = analyse.given(&fields);
            file = Some(stream_file(&mut field, files_dir, max_bytes, analyse).await?);
        } else {
            if fields.len() >= MAX_TEXT_PARTS {
                return Err(ApiError::BadRequest("too many form fields".into()));
            }
            let text = read_text(&mut field, &name).await?;
            fields.insert(name, text);
        }
    }
    let file =
        file.ok_or_else(|| ApiError::BadRequest("the upload has no \"file\" part".into()))?;
    Ok(Upload { file, fields })
}

async fn read_text(field: &mut Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    let too_long = || {
        ApiError::BadRequest(format!(
            "form field {name:?} is longer than {MAX_TEXT_CHARS} characters"
        ))
    };
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_BYTES {
            return Err(too_long());
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest(format!("form field {name:?} is not UTF-8 text")))?;
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(too_long());
    }
    Ok(text)
}

async fn stream_file(
    field: &mut Field<'_>,
    files_dir: &Path,
    max_bytes: u64,
    analyse: Analyse,
) -> Result<IncomingFile, ApiError> {
    let display_name = field
        .file_name()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("the \"file\" part has no filename".into()))?
        .to_owned();
    let kind = FileKind::from_name(&sanitise(&display_name))?;
    let (guard, file) = create_temp(files_dir).await?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let mut size = 0u64;
    let mut along = along(kind, analyse);
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(ApiError::TooLarge { max_bytes });
        }
        if head.len() < HEAD_BYTES {
            let take = chunk.len().min(HEAD_BYTES - head.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == HEAD_BYTES {
                kind.check_head(&display_name, &head)?;
            }
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
        if let Some(along) = &mut along {
            along.feed(&chunk).await;
        }
    }
    kind.check_complete(&display_name, &head, size)?;
    out.flush().await?;
    // On the card before anyone is told the upload is stored.
    out.into_inner().sync_all().await?;
    let analysed = match along {
        Some(along) => along.finish(size).await,
        None => None,
    };
    Ok(IncomingFile {
        guard,
        display_name,
        kind,
        sha256: hex::encode(hasher.finalize()),
        size,
        analysed,
    })
}

/// The analysis along the upload, for G-code when asked; a thread that cannot be started
/// leaves the analysis to the intake.
fn along(kind: FileKind, analyse: Analyse) -> Option<Along> {
    let Analyse::Along { request_bytes } = analyse else {
        return None;
    };
    if kind != FileKind::GcodeText {
        return None;
    }
    Along::start(request_bytes)
        .inspect_err(|e| tracing::warn!(error = %e, "cannot analyse the upload as it arrives"))
        .ok()
}

async fn create_temp(files_dir: &Path) -> std::io::Result<(FileGuard, tokio::fs::File)> {
    let token: [u8; 8] = rand::random();
    let path = files_dir.join(format!("{TEMP_PREFIX}{}{TEMP_SUFFIX}", hex::encode(token)));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await?;
    Ok((FileGuard::new(path), file))
}

/// Creates the files directory and removes temporary files a crash left behind.
pub fn prepare_files_dir(files_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(files_dir)?;
    for entry in std::fs::read_dir(files_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
