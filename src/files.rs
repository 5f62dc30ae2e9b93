//! What a job file may be, judged by its name's extension **and** its content, and the safe
//! name it is stored under. Uploads (LAN) and downloads (cloud) both check files here, so
//! both doors accept and refuse the same files.
//!
//! Accepted: G-code text (`.gcode`, `.gco`, `.g`: printable text in the first KiB), binary
//! G-code (`.bgcode`, magic `GCDE`), STL (binary: an 84-byte header whose triangle count
//! matches the size; ASCII: starts with `solid`) and 3MF (a zip, `PK\x03\x04`). A 3MF is a
//! model to slice unless its zip holds a sliced plate (`Metadata/plate_N.gcode`): then it is
//! a sliced Bambu project, a ready job (`refine`, once the whole file is there). The name a
//! person gave is kept for display only; the stored name has no separators, no `..`, no
//! control or odd characters, and at most 100 characters with the extension kept.
//!
//! Also the small file-system steps every intake shares: a free name under the content hash,
//! a durable rename, hashing a file, and `FileGuard`, which removes a file nobody kept.

use std::path::{Path, PathBuf};

/// How many leading bytes the content checks look at.
pub const HEAD_BYTES: usize = 1024;
/// The longest stored name (before the hash prefix).
pub const MAX_NAME_CHARS: usize = 100;
/// Hex characters of the content hash in a stored name.
const HASH_PREFIX: usize = 16;

const ACCEPTED: &str =
    "accepted are G-code (.gcode, .gco, .g), binary G-code (.bgcode), STL (.stl) and 3MF (.3mf)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    GcodeText,
    BinaryGcode,
    Stl,
    ThreeMf,
    /// A 3MF with a sliced plate's G-code (`.gcode.3mf` from Bambu Studio or OrcaSlicer).
    SlicedProject,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileTypeError {
    #[error("unsupported file type {name:?}: {}", ACCEPTED)]
    NotAccepted { name: String },
    #[error("{name:?} does not look like {what}: {}", ACCEPTED)]
    Mismatch { name: String, what: &'static str },
    #[error("the uploaded file {name:?} is empty")]
    Empty { name: String },
}

impl FileKind {
    /// A short name for messages (`gcode`, `bgcode`, `stl`, `3mf`).
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::GcodeText => "gcode",
            FileKind::BinaryGcode => "bgcode",
            FileKind::Stl => "stl",
            FileKind::ThreeMf => "3mf",
            FileKind::SlicedProject => "gcode.3mf",
        }
    }

    /// The kind a (sanitised) file name claims by its extension.
    pub fn from_name(name: &str) -> Result<FileKind, FileTypeError> {
        let ext = name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        match ext.as_deref() {
            Some("gcode" | "gco" | "g") => Ok(FileKind::GcodeText),
            Some("bgcode") => Ok(FileKind::BinaryGcode),
            Some("stl") => Ok(FileKind::Stl),
            Some("3mf") => Ok(FileKind::ThreeMf),
            _ => Err(FileTypeError::NotAccepted {
                name: name.to_owned(),
            }),
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            FileKind::GcodeText => "G-code text",
            FileKind::BinaryGcode => "binary G-code",
            FileKind::Stl => "an STL model",
            FileKind::ThreeMf => "a 3MF package",
            FileKind::SlicedProject => "a sliced Bambu project",
        }
    }

    /// Checks the first bytes, as soon as `HEAD_BYTES` arrived (or the file ended), so a
    /// wrong file is refused before it is stored. STL needs the size too: see `check_complete`.
    pub fn check_head(self, name: &str, head: &[u8]) -> Result<(), FileTypeError> {
        let fits = match self {
            FileKind::GcodeText => is_text(head),
            FileKind::BinaryGcode => head.starts_with(b"GCDE"),
            FileKind::ThreeMf | FileKind::SlicedProject => head.starts_with(b"PK\x03\x04"),
            FileKind::Stl => true,
        };
        self.verdict(fits, name)
    }

    /// The final check with the whole size known.
    pub fn check_complete(self, name: &str, head: &[u8], size: u64) -> Result<(), FileTypeError> {
        if size == 0 {
            return Err(FileTypeError::Empty {
                name: name.to_owned(),
            });
        }
        match self {
            FileKind::Stl => self.verdict(is_binary_stl(head, size) || is_ascii_stl(head), name),
            _ => self.check_head(name, head),
        }
    }

    fn verdict(self, fits: bool, name: &str) -> Result<(), FileTypeError> {
        if fits {
            Ok(())
        } else {
            Err(FileTypeError::Mismatch {
                name: name.to_owned(),
                what: self.description(),
            })
        }
    }
}

/// Printable text: valid UTF-8 (a character cut at the end of the head is fine) without
/// control characters other than tab, CR and LF.
fn is_text(head: &[u8]) -> bool {
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    let printable = |b: &u8| (*b >= 0x20 && *b != 0x7f) || matches!(*b, b'\t' | b'\n' | b'\r');
    utf8 && !head.is_empty() && head.iter().all(printable)
}

/// 80-byte header, little-endian triangle count, 50 bytes per triangle.
fn is_binary_stl(head: &[u8], size: u64) -> bool {
    let Some(count) = head.get(80..84) else {
        return false;
    };
    let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
    84 + 50 * u64::from(count) == size
}

fn is_ascii_stl(head: &[u8]) -> bool {
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| head[i..].starts_with(b"solid")) && is_text(head)
}

/// The name a file is stored under, from the name a person gave it.
pub fn sanitise(display_name: &str) -> String {
    let base = display_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "upload" } else { name };
    truncate_keeping_extension(name)
}

/// Only ASCII is left by now, so byte positions are character positions.
fn truncate_keeping_extension(name: &str) -> String {
    if name.len() <= MAX_NAME_CHARS {
        return name.to_owned();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if ext.len() < 16 => {
            let keep = MAX_NAME_CHARS - ext.len() - 1;
            format!("{}.{ext}", &stem[..keep.min(stem.len())])
        }
        _ => name[..MAX_NAME_CHARS].to_owned(),
    }
}

/// The kind of a whole file named `name`, `size` bytes long, whose content starts with
/// `head` (up to `HEAD_BYTES`): extension and content must agree.
pub fn detect(name: &str, head: &[u8], size: u64) -> Result<FileKind, FileTypeError> {
    let kind = FileKind::from_name(name)?;
    kind.check_complete(name, head, size)?;
    Ok(kind)
}

/// The kind of a whole, stored file: a 3MF whose zip names a sliced plate is a
/// `SlicedProject`; every other kind (and a 3MF whose zip cannot be read, left for the
/// slicer to judge) stays as the extension and head said. Reads the zip's central directory
/// on a blocking thread.
pub async fn refine(path: &Path, kind: FileKind) -> FileKind {
    if kind != FileKind::ThreeMf {
        return kind;
    }
    let owned = path.to_owned();
    let plate = tokio::task::spawn_blocking(move || crate::gcode::project::plate_of(&owned)).await;
    match plate {
        Ok(Ok(Some(_))) => FileKind::SlicedProject,
        Ok(Ok(None)) => kind,
        Ok(Err(e)) => {
            tracing::warn!(file = %path.display(), error = %e, "a 3MF whose plates cannot be read");
            kind
        }
        Err(e) => {
            tracing::error!(error = %e, "the 3MF check failed");
            kind
        }
    }
}

/// Where a file with content hash `sha256` and sanitised name `safe_name` is stored in `dir`:
/// `<hash prefix>-<name>`, or `<hash prefix>-2-<name>`, … when that is taken (same content,
/// same name). Uploads and sliced files are stored this way.
pub async fn free_name(dir: &Path, sha256: &str, safe_name: &str) -> std::io::Result<PathBuf> {
    let prefix = &sha256[..HASH_PREFIX.min(sha256.len())];
    let mut candidate = dir.join(format!("{prefix}-{safe_name}"));
    let mut n = 2;
    while tokio::fs::try_exists(&candidate).await? {
        candidate = dir.join(format!("{prefix}-{n}-{safe_name}"));
        n += 1;
    }
    Ok(candidate)
}

/// Makes a rename into `dir` durable.
pub async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

/// Lowercase hex SHA-256 and size of a file, streamed (a file written by someone else, such
/// as the slicer, whose content was not hashed on the way in).
pub async fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut size = 0_u64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok((hex::encode(hasher.finalize()), size));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

/// A file on disk that is removed when dropped, unless kept: every way out of an intake (an
/// error, a refused job, a client that hangs up and so drops the handler) leaves nothing
/// behind.
#[derive(Debug)]
pub struct FileGuard {
    path: PathBuf,
    keep: bool,
}

impl FileGuard {
    /// Guards the file at `path` (removed on drop unless `keep` is called).
    pub fn new(path: PathBuf) -> FileGuard {
        FileGuard { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the file (same directory, so the rename is atomic); the guard follows it.
    pub async fn rename(&mut self, to: PathBuf) -> std::io::Result<()> {
        tokio::fs::rename(&self.path, &to).await?;
        self.path = to;
        Ok(())
    }

    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        match std::fs::remove_file(&self.path) {
            // Already gone is fine; anything else is worth a line in the log.
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(file = %self.path.display(), error = %e, "removing a file that was not kept");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_directories_dots_and_control_characters() {
        assert_eq!(sanitise("../../etc/passwd.gcode"), "passwd.gcode");
        assert_eq!(sanitise("a/b.gcode"), "b.gcode");
        assert_eq!(sanitise("C:\\Users\\me\\part.gcode"), "part.gcode");
        assert_eq!(sanitise("bad\nname\u{7}.gcode"), "bad_name_.gcode");
        assert_eq!(sanitise("two..dots.gcode"), "two.dots.gcode");
        assert_eq!(sanitise(".hidden.gcode"), "hidden.gcode");
        assert_eq!(sanitise(".."), "upload");
        assert_eq!(sanitise("Türmchen v2.gcode"), "T_rmchen_v2.gcode");
    }

    #[test]
    fn long_names_are_cut_to_100_characters_keeping_the_extension() {
        let long = format!("{}.gcode", "x".repeat(300));
        let name = sanitise(&long);
        assert_eq!(name.len(), MAX_NAME_CHARS);
        assert!(name.ends_with(".gcode"), "{name}");
    }

    #[test]
    fn the_extension_decides_the_claimed_kind() {
        assert_eq!(FileKind::from_name("a.GCODE"), Ok(FileKind::GcodeText));
        assert_eq!(FileKind::from_name("a.g"), Ok(FileKind::GcodeText));
        assert_eq!(FileKind::from_name("a.bgcode"), Ok(FileKind::BinaryGcode));
        assert_eq!(FileKind::from_name("a.gcode.3mf"), Ok(FileKind::ThreeMf));
        let e = FileKind::from_name("setup.exe").unwrap_err();
        assert!(e.to_string().contains(".gcode, .gco, .g"), "{e}");
        assert!(FileKind::from_name("noextension").is_err());
    }

    #[test]
    fn content_must_match_the_extension() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert!(FileKind::GcodeText.check_head("x.gcode", png).is_err());
        assert!(
            FileKind::GcodeText
                .check_head("x.gcode", b"; hi\nG28\n")
                .is_ok()
        );
        assert!(
            FileKind::BinaryGcode
                .check_head("x.bgcode", b"GCDE\x01")
                .is_ok()
        );
        assert!(
            FileKind::BinaryGcode
                .check_head("x.bgcode", b"G28\n")
                .is_err()
        );
        assert!(
            FileKind::ThreeMf
                .check_head("x.3mf", b"PK\x03\x04rest")
                .is_ok()
        );
        assert!(FileKind::ThreeMf.check_head("x.3mf", b"solid").is_err());
    }

    #[test]
    fn stl_is_binary_with_a_consistent_count_or_ascii_solid() {
        let mut binary = vec![0u8; 84 + 50 * 2];
        binary[80] = 2;
        let size = binary.len() as u64;
        assert!(FileKind::Stl.check_complete("m.stl", &binary, size).is_ok());
        assert!(
            FileKind::Stl
                .check_complete("m.stl", &binary, size + 1)
                .is_err()
        );
        // A binary header may itself start with "solid"; the count still decides.
        binary[..5].copy_from_slice(b"solid");
        assert!(FileKind::Stl.check_complete("m.stl", &binary, size).is_ok());
        let ascii = b"solid cube\n facet normal 0 0 1\n";
        let ok = FileKind::Stl.check_complete("m.stl", ascii, ascii.len() as u64);
        assert!(ok.is_ok());
        assert!(FileKind::Stl.check_complete("m.stl", b"hello", 5).is_err());
    }

    #[test]
    fn an_empty_file_is_refused_whatever_its_name() {
        let e = FileKind::GcodeText.check_complete("x.gcode", b"", 0);
        assert!(matches!(e, Err(FileTypeError::Empty { .. })));
    }
}
