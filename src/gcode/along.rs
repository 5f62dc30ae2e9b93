//! Analysing G-code while it arrives. An upload hands each chunk to [`Along`] on its way to
//! disk (where it is hashed too); a thread runs the same pass as `analyse_file` over the
//! chunks, so the analysis is done shortly after the last byte instead of being a second
//! reading of the whole file after it is stored (issue #14: 3.4 s of 4.9 s for 100 MiB).
//!
//! The progress table needs the file's length, which an upload only knows within a range
//! when it starts: the request's `Content-Length` bounds it, the other form parts and the
//! multipart framing are the rest. The pass keeps a progress table per possible length
//! (`analysis::analyse_lines`), so the result is exactly what `analyse_file` gives for the
//! stored file. A file whose length falls outside the range (form parts larger than
//! [`FRAMING_ALLOWANCE`]) or an analysis that failed yields `None`, and the intake analyses
//! the stored file as before: slower, never different.

use std::io::{self, Read};

use tokio::sync::{mpsc, oneshot};

use super::analysis::{LinesRead, analyse_lines};
use super::limits::MachineLimits;
use super::progress::{ProgressSampler, SAMPLES};

/// How many bytes of a request besides the file the streaming pass allows for: boundaries,
/// part headers and the small text parts of `POST /api/jobs` (a few hundred bytes from curl
/// or a browser). Each hundred bytes costs one more table (filled at its samples only).
pub const FRAMING_ALLOWANCE: u64 = 4096;
/// Bytes per piece handed to the analysis thread. The upload's chunks are copied into
/// pieces of this size rather than handed over themselves: a chunk is a slice of the
/// multipart parser's buffer, and chunks waiting in the queue kept those buffers alive, so
/// the parser kept allocating new ones (peak RSS over a 100 MiB upload 19.6 MiB, 11.4 with
/// pieces; `benches/upload_ratio.sh`, issue #14). Below glibc's mmap threshold, so the
/// pieces' memory is reused from the heap rather than mapped afresh.
const PIECE: usize = 64 * 1024;
/// Pieces waiting for the analysis thread. When full the upload waits for the analysis
/// (which reads slower than loopback delivers), so memory stays at a few pieces (eight
/// deep measured no faster over loopback than four).
const QUEUE: usize = 4;

enum Piece {
    Bytes(Vec<u8>),
    End,
}

/// The analysis of an upload in progress. Dropping it without [`Along::finish`] (a refused
/// or abandoned upload) stops the thread at the next chunk.
pub struct Along {
    pieces: mpsc::Sender<Piece>,
    /// The piece being filled; handed over when full, and the rest at the end.
    filling: Vec<u8>,
    result: oneshot::Receiver<io::Result<LinesRead>>,
}

impl Along {
    /// Starts the pass for a file that is part of a request of `request_bytes`.
    pub fn start(request_bytes: u64) -> io::Result<Along> {
        let lowest = ProgressSampler::step_for(request_bytes.saturating_sub(FRAMING_ALLOWANCE));
        let highest = ProgressSampler::step_for(request_bytes);
        // One length per possible step is enough: the table depends on the step only.
        let possible: Vec<u64> = (lowest..=highest).map(|step| step * SAMPLES).collect();
        let (pieces, rx) = mpsc::channel(QUEUE);
        let (done, result) = oneshot::channel();
        std::thread::Builder::new()
            .name("gcode-analysis".into())
            .spawn(move || {
                let source = Pieces {
                    rx,
                    current: Vec::new(),
                    read: 0,
                    ended: false,
                };
                let read = analyse_lines(source, &possible, &MachineLimits::default());
                // Err: the upload was dropped meanwhile; nobody wants the result.
                let _ = done.send(read);
            })?;
        Ok(Along {
            pieces,
            filling: Vec::with_capacity(PIECE),
            result,
        })
    }

    /// Hands the next chunk of the file to the analysis (copied: the caller keeps `chunk`);
    /// waits while it is behind.
    pub async fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let take = chunk.len().min(PIECE - self.filling.len());
            let (now, later) = chunk.split_at(take);
            self.filling.extend_from_slice(now);
            chunk = later;
            if self.filling.len() == PIECE {
                let full = std::mem::replace(&mut self.filling, Vec::with_capacity(PIECE));
                // Err: the thread ended early (it cannot read the stream); `finish` says so.
                let _ = self.pieces.send(Piece::Bytes(full)).await;
            }
        }
    }

    /// The pass over the whole file of `size` bytes, once the thread has read the last line;
    /// `None` when it failed, read a different length or did not foresee this one.
    pub async fn finish(mut self, size: u64) -> Option<LinesRead> {
        if !self.filling.is_empty() {
            let last = std::mem::take(&mut self.filling);
            let _ = self.pieces.send(Piece::Bytes(last)).await;
        }
        let _ = self.pieces.send(Piece::End).await;
        match self.result.await {
            Ok(Ok(read)) if read.bytes() == size => read.can_finish().then_some(read),
            Ok(Ok(read)) => {
                tracing::warn!(
                    read = read.bytes(),
                    size,
                    "the streaming analysis lost bytes"
                );
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the streaming analysis failed");
                None
            }
            Err(_) => None,
        }
    }
}

/// The chunks as a blocking reader for the analysis thread.
struct Pieces {
    rx: mpsc::Receiver<Piece>,
    current: Vec<u8>,
    /// Bytes of `current` already read.
    read: usize,
    /// `End` was read: every later read is the end again (a reader may ask twice, e.g. after
    /// a last line without a newline), and the sender stays alive until the result arrives.
    ended: bool,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.read == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Piece::Bytes(bytes)) => (self.current, self.read) = (bytes, 0),
                Some(Piece::End) => {
                    self.ended = true;
                    return Ok(0);
                }
                None => return Err(io::Error::other("the upload ended before its last byte")),
            }
        }
        let unread = &self.current[self.read..];
        let n = buf.len().min(unread.len());
        buf[..n].copy_from_slice(&unread[..n]);
        self.read += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::gcode::analysis::{Analysis, analyse_file};
    use crate::gcode::materials::Materials;

    const FIXTURES: [&str; 5] = [
        "cube.gcode",
        "cube_absolute.gcode",
        "cylinder.gcode",
        "tall.gcode",
        "thumb.gcode",
    ];

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/gcode")
            .join(name)
    }

    /// Feeds `bytes` in chunks of the sizes in `sizes` (cycled), as part of a request
    /// `framing` bytes longer than the file.
    async fn streamed(bytes: &[u8], framing: u64, sizes: &[usize]) -> Option<LinesRead> {
        let mut along = Along::start(bytes.len() as u64 + framing).unwrap();
        let mut rest = bytes;
        for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at(size.min(rest.len()));
            along.feed(chunk).await;
            rest = after;
        }
        along.finish(bytes.len() as u64).await
    }

    fn whole(name: &str, material: &str) -> Analysis {
        let materials = Materials::default();
        let material = materials.get(material).unwrap();
        analyse_file(&fixture(name), &MachineLimits::default(), material).unwrap()
    }

    #[tokio::test]
    async fn a_file_analysed_as_it_arrives_gets_exactly_the_stored_files_analysis() {
        let materials = Materials::default();
        for name in FIXTURES {
            let bytes = std::fs::read(fixture(name)).unwrap();
            // Chunks that cut lines anywhere, single bytes to more than the reader's buffer.
            for (framing, sizes) in [
                (0, &[300_000][..]),
                (187, &[1, 7, 8192, 3, 65_536, 100][..]),
                (FRAMING_ALLOWANCE, &[16_384, 999][..]),
            ] {
                let read = streamed(&bytes, framing, sizes).await;
                let read = read.unwrap_or_else(|| panic!("{name}: no streamed analysis"));
                let along = read.finish(materials.get("PETG").unwrap()).unwrap();
                assert_eq!(
                    format!("{along:?}"),
                    format!("{:?}", whole(name, "PETG")),
                    "{name} in chunks of {sizes:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_last_line_without_a_newline_ends_the_pass() {
        // The reader asks again after the end: it must not wait for a chunk that never comes.
        for bytes in [&b"G28"[..], b"G28\nG1 X10 Y10 F3000\nG1 X20", b""] {
            let read = tokio::time::timeout(Duration::from_secs(30), streamed(bytes, 300, &[2]))
                .await
                .expect("the streaming pass hung at the end of the file");
            let read = read.expect("a small file is analysed along");
            assert_eq!(read.bytes(), bytes.len() as u64);
        }
    }

    #[tokio::test]
    async fn a_request_with_more_besides_the_file_than_allowed_is_left_to_the_intake() {
        let bytes = std::fs::read(fixture("cylinder.gcode")).unwrap();
        let framing = FRAMING_ALLOWANCE + 1_000;
        assert!(streamed(&bytes, framing, &[8192]).await.is_none());
    }

    #[tokio::test]
    async fn an_upload_dropped_midway_ends_the_analysis_thread() {
        let bytes = std::fs::read(fixture("cube.gcode")).unwrap();
        let mut along = Along::start(bytes.len() as u64).unwrap();
        // More than a piece, so the thread has started reading.
        along.feed(&bytes[..PIECE + 5000]).await;
        let Along { pieces, result, .. } = along;
        drop(pieces);
        let ended = result.await.expect("the thread reports before it ends");
        assert!(
            ended.is_err(),
            "an abandoned upload is not analysed to its end"
        );
    }
}
