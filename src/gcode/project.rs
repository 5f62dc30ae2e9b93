//! Sliced Bambu projects (`.gcode.3mf`): a 3MF zip that carries, besides the model, the
//! G-code of its sliced plates as `Metadata/plate_N.gcode`. A model 3MF has no such entry,
//! which is how the intake tells a ready job from a model to slice.
//!
//! A zip is read from its end: the end-of-central-directory record names where the central
//! directory is, and each of its entries names a member's method, sizes and local header.
//! Only what a plate needs is read: stored or deflated members (inflated with `miniz_oxide`,
//! streamed, so a 100 MB plate costs a few KiB of buffers); Zip64 archives (over 4 GiB)
//! and encrypted members are refused with a reason.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// The end-of-central-directory record is 22 bytes plus a comment of at most 64 KiB.
const EOCD_SEARCH: u64 = 22 + 0xFFFF;
/// A project's central directory lists a few dozen members; this bounds a hostile one.
const MAX_CENTRAL_DIRECTORY: u64 = 16 * 1024 * 1024;
/// Compressed bytes read from the file at a time while inflating.
const INFLATE_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("reading the 3MF: {0}")]
    Io(#[from] std::io::Error),
    #[error("the 3MF is not a readable zip: {0}")]
    NotAZip(&'static str),
    #[error("the 3MF's plate G-code is stored in a way the gateway cannot read: {0}")]
    Unsupported(&'static str),
    #[error(
        "the project has no plate {wanted}; its sliced plates are {}",
        plate_list(has)
    )]
    NoSuchPlate { wanted: u32, has: Vec<u32> },
}

/// `1, 2` (or `none`) for a message.
fn plate_list(plates: &[u32]) -> String {
    if plates.is_empty() {
        return "none".into();
    }
    let names: Vec<String> = plates.iter().map(u32::to_string).collect();
    names.join(", ")
}

/// The sliced plate of a project: its number and where its G-code is in the zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plate {
    /// `N` of `Metadata/plate_N.gcode`.
    pub number: u32,
    /// The G-code's size once inflated.
    pub size: u64,
    method: u16,
    flags: u16,
    compressed: u64,
    local_header: u64,
}

/// The first sliced plate named in the project at `path`, or `None` for a model 3MF.
pub fn plate_of(path: &Path) -> Result<Option<Plate>, ProjectError> {
    let mut file = File::open(path)?;
    let directory = central_directory(&mut file)?;
    Ok(plates(&directory)?.into_iter().next())
}

/// The numbers of the sliced plates in the project at `path`, in the zip's order.
pub fn plate_numbers(path: &Path) -> Result<Vec<u32>, ProjectError> {
    let mut file = File::open(path)?;
    let directory = central_directory(&mut file)?;
    Ok(plates(&directory)?.iter().map(|p| p.number).collect())
}

/// Plate `wanted` of the project (`None`: its first plate), or why there is none.
fn choose(all: Vec<Plate>, wanted: Option<u32>) -> Result<Plate, ProjectError> {
    let has = || all.iter().map(|p| p.number).collect();
    match wanted {
        None => {
            (all.first().cloned()).ok_or(ProjectError::NotAZip("no Metadata/plate_N.gcode in it"))
        }
        Some(wanted) => (all.iter().find(|p| p.number == wanted).cloned())
            .ok_or_else(|| ProjectError::NoSuchPlate { wanted, has: has() }),
    }
}

/// Plate `wanted`'s G-code (`None`: the first plate's), inflated as it is read, with its size.
pub fn open_plate(path: &Path, wanted: Option<u32>) -> Result<(Plate, impl Read), ProjectError> {
    let mut file = File::open(path)?;
    let directory = central_directory(&mut file)?;
    let plate = choose(plates(&directory)?, wanted)?;
    if plate.flags & 1 != 0 {
        return Err(ProjectError::Unsupported("the plate is encrypted"));
    }
    let mut local = [0u8; 30];
    file.seek(SeekFrom::Start(plate.local_header))?;
    file.read_exact(&mut local)?;
    if le32(&local, 0) != 0x0403_4b50 {
        return Err(ProjectError::NotAZip("a member's local header is missing"));
    }
    let skip = 30 + u64::from(le16(&local, 26)) + u64::from(le16(&local, 28));
    file.seek(SeekFrom::Start(plate.local_header + skip))?;
    let data = file.take(plate.compressed);
    let reader = match plate.method {
        0 => PlateReader::Stored(data),
        8 => PlateReader::Deflated(Box::new(Inflater::new(data))),
        _ => {
            return Err(ProjectError::Unsupported(
                "a compression other than deflate",
            ));
        }
    };
    Ok((plate, reader))
}

/// The central directory's bytes, found through the record at the zip's end.
fn central_directory(file: &mut File) -> Result<Vec<u8>, ProjectError> {
    let len = file.metadata()?.len();
    let start = len.saturating_sub(EOCD_SEARCH);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(EOCD_SEARCH).read_to_end(&mut tail)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| le32(&tail, i) == 0x0605_4b50)
        .ok_or(ProjectError::NotAZip("no end of central directory"))?;
    let (size, offset) = (
        u64::from(le32(&tail, at + 12)),
        u64::from(le32(&tail, at + 16)),
    );
    if offset == 0xFFFF_FFFF || size == 0xFFFF_FFFF {
        return Err(ProjectError::Unsupported("a Zip64 archive (over 4 GiB)"));
    }
    if size > MAX_CENTRAL_DIRECTORY || offset + size > len {
        return Err(ProjectError::NotAZip(
            "the central directory is out of bounds",
        ));
    }
    let mut directory = vec![0u8; size as usize];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut directory)?;
    Ok(directory)
}

/// The plates named in a central directory, in its order.
fn plates(directory: &[u8]) -> Result<Vec<Plate>, ProjectError> {
    let mut found = Vec::new();
    let mut at = 0;
    while at + 46 <= directory.len() && le32(directory, at) == 0x0201_4b50 {
        let name_len = usize::from(le16(directory, at + 28));
        let extra = usize::from(le16(directory, at + 30)) + usize::from(le16(directory, at + 32));
        let name = directory
            .get(at + 46..at + 46 + name_len)
            .ok_or(ProjectError::NotAZip("a member's name is cut off"))?;
        if let Some(number) = plate_number(name) {
            let (compressed, size) = (le32(directory, at + 20), le32(directory, at + 24));
            let local_header = le32(directory, at + 42);
            if [compressed, size, local_header].contains(&0xFFFF_FFFF) {
                return Err(ProjectError::Unsupported("a Zip64 member (over 4 GiB)"));
            }
            found.push(Plate {
                number,
                size: u64::from(size),
                method: le16(directory, at + 10),
                flags: le16(directory, at + 8),
                compressed: u64::from(compressed),
                local_header: u64::from(local_header),
            });
        }
        at += 46 + name_len + extra;
    }
    Ok(found)
}

/// `N` of a member named exactly `Metadata/plate_N.gcode`.
fn plate_number(name: &[u8]) -> Option<u32> {
    let digits = name
        .strip_prefix(b"Metadata/plate_")?
        .strip_suffix(b".gcode")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A plate's G-code as it is stored in the zip.
enum PlateReader<R> {
    Stored(R),
    Deflated(Box<Inflater<R>>),
}

impl<R: Read> Read for PlateReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            PlateReader::Stored(r) => r.read(buf),
            PlateReader::Deflated(r) => r.read(buf),
        }
    }
}

/// Raw deflate, inflated as it is read.
struct Inflater<R> {
    source: R,
    state: Box<InflateState>,
    input: Vec<u8>,
    start: usize,
    end: usize,
    source_done: bool,
    done: bool,
}

impl<R: Read> Inflater<R> {
    fn new(source: R) -> Inflater<R> {
        Inflater {
            source,
            state: InflateState::new_boxed(DataFormat::Raw),
            input: vec![0; INFLATE_CHUNK],
            start: 0,
            end: 0,
            source_done: false,
            done: false,
        }
    }
}

impl<R: Read> Read for Inflater<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while !self.done && !buf.is_empty() {
            if self.start == self.end && !self.source_done {
                self.end = self.source.read(&mut self.input)?;
                self.start = 0;
                self.source_done = self.end == 0;
            }
            let input = &self.input[self.start..self.end];
            let result = inflate(&mut self.state, input, buf, MZFlush::None);
            self.start += result.bytes_consumed;
            match result.status {
                Ok(MZStatus::StreamEnd) => self.done = true,
                Ok(_) | Err(MZError::Buf) if result.bytes_written > 0 => {}
                Ok(_) | Err(MZError::Buf) if !self.source_done || self.start < self.end => {
                    continue;
                }
                _ => return Err(invalid("the plate's G-code is cut off or corrupt")),
            }
            if result.bytes_written > 0 || self.done {
                return Ok(result.bytes_written);
            }
        }
        Ok(0)
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_plate_gcode_names_count() {
        assert_eq!(plate_number(b"Metadata/plate_2.gcode"), Some(2));
        assert_eq!(plate_number(b"Metadata/plate_12.gcode"), Some(12));
        assert_eq!(plate_number(b"Metadata/plate_2.gcode.md5"), None);
        assert_eq!(plate_number(b"Metadata/plate_2.png"), None);
        assert_eq!(plate_number(b"Metadata/plate_.gcode"), None);
        assert_eq!(plate_number(b"3D/3dmodel.model"), None);
    }

    fn plate(number: u32) -> Plate {
        Plate {
            number,
            size: 0,
            method: 0,
            flags: 0,
            compressed: 0,
            local_header: 0,
        }
    }

    #[test]
    fn a_plate_is_chosen_by_number_and_a_missing_one_names_those_there_are() {
        assert_eq!(choose(vec![plate(1), plate(2)], Some(2)).unwrap().number, 2);
        assert_eq!(choose(vec![plate(3), plate(1)], None).unwrap().number, 3);
        let missing = choose(vec![plate(1), plate(2)], Some(5)).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "the project has no plate 5; its sliced plates are 1, 2"
        );
    }

    #[test]
    fn a_deflated_plate_inflates_through_small_reads() {
        let text: String = (0..5000).map(|i| format!("G1 X{i} Y{i}\n")).collect();
        let packed = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6);
        let mut reader = Inflater::new(&packed[..]);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, text.as_bytes());
    }

    #[test]
    fn a_cut_off_stream_is_an_error_not_a_short_file() {
        let text: String = (0..5000).map(|i| format!("G1 X{i}\n")).collect();
        let packed = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6);
        let mut reader = Inflater::new(&packed[..packed.len() / 2]);
        let mut out = Vec::new();
        assert!(reader.read_to_end(&mut out).is_err());
    }
}
