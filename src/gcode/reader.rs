//! Lines from a byte stream in fixed memory: a reused chunk buffer and a line buffer capped
//! at `MAX_LINE` bytes (a longer line is cut and flagged, so a file without newlines cannot
//! make us buffer it whole).

use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;
/// Longest line kept; real G-code lines are well under 1 KiB.
pub const MAX_LINE: usize = 64 * 1024;

pub struct LineReader<R> {
    source: R,
    chunk: Box<[u8]>,
    start: usize,
    end: usize,
    line: Vec<u8>,
    /// Bytes consumed up to the end of the last line returned.
    offset: u64,
}

/// One line: its bytes (no newline), the offset just past it, and whether it was cut.
pub struct Line<'a> {
    pub bytes: &'a [u8],
    pub end_offset: u64,
    pub cut: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(source: R) -> Self {
        LineReader {
            source,
            chunk: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            line: Vec::with_capacity(256),
            offset: 0,
        }
    }

    /// The next line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        // Fast path: the whole line is in the chunk; hand out a slice of it, no copy.
        let available = &self.chunk[self.start..self.end];
        if let Some(i) = find(available, b'\n')
            && i <= MAX_LINE
        {
            let from = self.start;
            self.start += i + 1;
            self.offset += i as u64 + 1;
            return Ok(Some(Line {
                bytes: &self.chunk[from..from + i],
                end_offset: self.offset,
                cut: false,
            }));
        }
        self.line.clear();
        let mut cut = false;
        let mut consumed = 0u64;
        loop {
            if self.start == self.end {
                self.end = read_retrying(&mut self.source, &mut self.chunk)?;
                self.start = 0;
                if self.end == 0 {
                    if consumed == 0 {
                        return Ok(None);
                    }
                    break;
                }
            }
            let available = &self.chunk[self.start..self.end];
            let newline = find(available, b'\n');
            let take = newline.map_or(available.len(), |i| i);
            let room = MAX_LINE - self.line.len();
            cut |= take > room;
            self.line.extend_from_slice(&available[..take.min(room)]);
            let step = newline.map_or(take, |i| i + 1);
            self.start += step;
            consumed += step as u64;
            if newline.is_some() {
                break;
            }
        }
        self.offset += consumed;
        Ok(Some(Line {
            bytes: &self.line,
            end_offset: self.offset,
            cut,
        }))
    }
}

fn read_retrying(source: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match source.read(buffer) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The index of the first `byte` in `haystack`. Eight bytes at a time (SWAR): every byte of
/// a file goes through here once for the newline and again for the comment's `;`, and a
/// byte-by-byte search was a tenth of the analysis.
#[inline(always)]
pub fn find(haystack: &[u8], byte: u8) -> Option<usize> {
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = LOW * u64::from(byte);
    let mut words = haystack.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        // A match, not `expect`: that is a call at opt-level "z" (the chunks are of eight).
        let word = match <[u8; 8]>::try_from(word) {
            Ok(word) => u64::from_le_bytes(word),
            Err(_) => break,
        };
        let x = word ^ pattern;
        // The lowest set high bit marks the first zero byte of `x` exactly; bits above it
        // may be false positives, which the little-endian order puts after it.
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = words.remainder();
    if rest.is_empty() {
        return None;
    }
    if haystack.len() >= 8 {
        // The last eight bytes, overlapping ones already searched (which hold no `byte`):
        // one more word instead of a byte-by-byte tail.
        let from = haystack.len() - 8;
        let (last, _) = haystack[from..].split_first_chunk::<8>()?;
        let word = u64::from_le_bytes(*last);
        let x = word ^ pattern;
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        return (zero != 0).then(|| from + (zero.trailing_zeros() / 8) as usize);
    }
    rest.iter().position(|&b| b == byte).map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::find;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn find_agrees_with_a_byte_by_byte_search(
            haystack in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b';'), Just(0x8a_u8), any::<u8>()], 0..40),
            byte in prop_oneof![Just(b'\n'), Just(b';')],
        ) {
            prop_assert_eq!(find(&haystack, byte), haystack.iter().position(|&b| b == byte));
        }
    }
}
