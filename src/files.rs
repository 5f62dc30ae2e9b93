//! What kind of file a job file is (by extension **and** content) and how its name is made
//! safe to store. Uploads (LAN) and downloads (cloud) both check files here, so both doors
//! accept and refuse the same files.

use std::path::Path;

/// The kinds of file the gateway accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Plain-text G-code (`.gcode`, `.gco`, `.g`).
    Gcode,
    /// Prusa binary G-code (`.bgcode`, magic `GCDE`).
    BinaryGcode,
    /// A mesh (`.stl`, binary or ASCII).
    Stl,
    /// A 3MF project (`.3mf`, a zip file).
    ThreeMf,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Gcode => "gcode",
            FileKind::BinaryGcode => "bgcode",
            FileKind::Stl => "stl",
            FileKind::ThreeMf => "3mf",
        }
    }

    /// Whether a printer can take the file as it is (models need slicing first).
    pub fn is_gcode(self) -> bool {
        matches!(self, FileKind::Gcode | FileKind::BinaryGcode)
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    #[error(
        "unsupported file type {extension:?}: the gateway accepts G-code (.gcode, .gco, .g), binary G-code (.bgcode), STL (.stl) and 3MF (.3mf)"
    )]
    Extension { extension: String },
    #[error("the file is named .{extension} but its content is not {expected}")]
    Content {
        extension: String,
        expected: &'static str,
    },
}

/// How many leading bytes `detect` wants to see (fewer is fine for short files).
pub const SNIFF_BYTES: usize = 1024;

/// The kind of a file named `name` whose content starts with `head` (up to `SNIFF_BYTES`),
/// `total` bytes long. Extension and content must agree.
pub fn detect(name: &str, head: &[u8], total: u64) -> Result<FileKind, KindError> {
    let extension = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (kind, expected) = match extension.as_str() {
        "gcode" | "gco" | "g" => (FileKind::Gcode, "G-code text"),
        "bgcode" => (FileKind::BinaryGcode, "binary G-code"),
        "stl" => (FileKind::Stl, "an STL mesh"),
        "3mf" => (FileKind::ThreeMf, "a 3MF (zip) archive"),
        _ => return Err(KindError::Extension { extension }),
    };
    let content_ok = match kind {
        FileKind::Gcode => is_text(head),
        FileKind::BinaryGcode => head.starts_with(b"GCDE"),
        FileKind::Stl => is_ascii_stl(head) || is_binary_stl(head, total),
        FileKind::ThreeMf => head.starts_with(b"PK\x03\x04"),
    };
    if content_ok {
        Ok(kind)
    } else {
        Err(KindError::Content {
            extension,
            expected,
        })
    }
}

/// G-code is printable ASCII/UTF-8 text: no NULs and almost no control bytes.
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // The sniffed window may cut a multi-byte character at its end.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return false,
    };
    let control = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    control * 100 <= text.len().max(1)
}

fn is_ascii_stl(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    head[start..].starts_with(b"solid") && is_text(head)
}

/// 80-byte header, a little-endian triangle count, 50 bytes per triangle.
fn is_binary_stl(head: &[u8], total: u64) -> bool {
    let Some(count) = head.get(80..84) else {
        return false;
    };
    let triangles = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
    total == 84 + 50 * u64::from(triangles)
}

/// The longest stored file name (the display name is kept separately, untouched).
pub const MAX_NAME_CHARS: usize = 100;

/// A name safe to use as a file name: no path separators or `..`, no control characters,
/// at most `MAX_NAME_CHARS` characters with the extension kept; never empty.
pub fn sanitise_name(name: &str) -> String {
    // Whatever came before the last separator is a path the sender had no business sending.
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    let cleaned = if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    };
    if cleaned.chars().count() <= MAX_NAME_CHARS {
        return cleaned;
    }
    let (stem, extension) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 10 => (stem, format!(".{ext}")),
        _ => (cleaned.as_str(), String::new()),
    };
    let keep = MAX_NAME_CHARS - extension.chars().count();
    format!("{}{extension}", stem.chars().take(keep).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_and_content_must_agree() {
        assert_eq!(detect("a.gcode", b"G28\nG1 X1\n", 10), Ok(FileKind::Gcode));
        assert_eq!(detect("A.GCO", b"; x\n", 4), Ok(FileKind::Gcode));
        assert_eq!(
            detect("a.bgcode", b"GCDE\x01\x00", 6),
            Ok(FileKind::BinaryGcode)
        );
        assert_eq!(detect("a.3mf", b"PK\x03\x04rest", 8), Ok(FileKind::ThreeMf));
        assert_eq!(
            detect("a.stl", b"solid cube\nfacet normal 0 0 1\n", 30),
            Ok(FileKind::Stl)
        );
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
        assert!(matches!(
            detect("a.gcode", png, 16),
            Err(KindError::Content { .. })
        ));
        assert!(matches!(
            detect("a.exe", b"MZ", 2),
            Err(KindError::Extension { .. })
        ));
        assert!(matches!(
            detect("noext", b"G28", 3),
            Err(KindError::Extension { .. })
        ));
    }

    #[test]
    fn a_binary_stl_is_recognised_by_its_triangle_count() {
        let mut stl = vec![0u8; 80];
        stl.extend_from_slice(&2u32.to_le_bytes());
        stl.extend(std::iter::repeat_n(0u8, 100));
        assert_eq!(detect("m.stl", &stl, stl.len() as u64), Ok(FileKind::Stl));
        assert!(detect("m.stl", &stl, stl.len() as u64 + 1).is_err());
    }

    #[test]
    fn names_lose_their_path_and_control_characters_but_keep_the_extension() {
        assert_eq!(sanitise_name("../../etc/passwd.gcode"), "passwd.gcode");
        assert_eq!(sanitise_name("a\\b\\c.gcode"), "c.gcode");
        assert_eq!(
            sanitise_name("bad\u{0}\u{1b}[31mname.gcode"),
            "bad__[31mname.gcode"
        );
        assert_eq!(sanitise_name(".."), "file");
        assert_eq!(sanitise_name(""), "file");
        let long = format!("{}.gcode", "x".repeat(300));
        let safe = sanitise_name(&long);
        assert_eq!(safe.chars().count(), MAX_NAME_CHARS);
        assert!(safe.ends_with(".gcode"));
    }
}
