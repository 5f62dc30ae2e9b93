//! One job's G-code file as the port thread streams it: read line by line (never the whole
//! file in memory), with progress measured in bytes of the file the printer has acknowledged.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::domain::Percent;

/// A file being streamed.
pub struct JobFile {
    reader: BufReader<File>,
    total: u64,
    /// Bytes read from the file so far.
    read: u64,
    /// Bytes of the file the printer has processed (all lines up to the last acked one).
    acked: u64,
    /// Lines sent and not yet acknowledged: (line number, file offset just after the line).
    in_flight: VecDeque<(u32, u64)>,
    /// The current line, reused so streaming does not allocate per line.
    line: String,
    raw: Vec<u8>,
    at_end: bool,
}

impl JobFile {
    pub fn open(path: &Path) -> io::Result<JobFile> {
        JobFile::open_at(path, 0)
    }

    /// The file from byte `offset` on (a resumed print: the bytes before count as printed).
    pub fn open_at(path: &Path, offset: u64) -> io::Result<JobFile> {
        use std::io::{Seek, SeekFrom};
        let mut file = File::open(path)?;
        let total = file.metadata()?.len();
        if offset > total {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("offset {offset} is past the end of the file ({total} bytes)"),
            ));
        }
        file.seek(SeekFrom::Start(offset))?;
        Ok(JobFile {
            reader: BufReader::with_capacity(16 * 1024, file),
            total,
            read: offset,
            acked: offset,
            in_flight: VecDeque::new(),
            line: String::new(),
            raw: Vec::new(),
            at_end: false,
        })
    }

    /// The next line of the file (without its line break), or `None` at the end. Bytes that
    /// are not UTF-8 are replaced, so the printer gets a line the safety check saw.
    #[cfg(test)]
    pub fn next_line(&mut self) -> io::Result<Option<&str>> {
        Ok(self.next_line_sized()?.map(|(line, _)| line))
    }

    /// `next_line` with the bytes the line took in the file (its line break included).
    pub fn next_line_sized(&mut self) -> io::Result<Option<(&str, u64)>> {
        self.line.clear();
        self.raw.clear();
        let n = self.reader.read_until(b'\n', &mut self.raw)?;
        if n == 0 {
            self.at_end = true;
            return Ok(None);
        }
        self.read += n as u64;
        self.line.push_str(&String::from_utf8_lossy(&self.raw));
        let trimmed_len = self.line.trim_end_matches(['\n', '\r']).len();
        self.line.truncate(trimmed_len);
        Ok(Some((&self.line, n as u64)))
    }

    /// The line just read was sent as `number` (or took none: a blank or comment line).
    pub fn sent(&mut self, number: Option<u32>) {
        match number {
            Some(n) => self.in_flight.push_back((n, self.read)),
            None if self.in_flight.is_empty() => self.acked = self.read,
            None => {}
        }
    }

    /// The printer processed every line up to `line`.
    pub fn acked(&mut self, line: u32) {
        while let Some(&(n, offset)) = self.in_flight.front() {
            if n > line {
                break;
            }
            self.acked = offset;
            self.in_flight.pop_front();
        }
    }

    /// True once the whole file was read and every line acknowledged.
    pub fn is_done(&self) -> bool {
        self.at_end && self.in_flight.is_empty()
    }

    pub fn progress(&self) -> Percent {
        if self.is_done() {
            return Percent::FULL;
        }
        // Never report 100 % before the end: the last lines may be the longest moves.
        Percent::new(Percent::from_fraction(self.acked, self.total).get().min(99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_follows_the_acknowledged_bytes_and_reaches_full_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gcode");
        // 4 lines of 10 bytes each.
        std::fs::write(&path, "; comment\nG1 X1 Y1\r\nG1 X2 Y2\r\nG1 X3 Y3\r\n").unwrap();
        let mut job = JobFile::open(&path).unwrap();
        assert_eq!(job.next_line().unwrap(), Some("; comment"));
        job.sent(None);
        assert_eq!(job.progress().get(), 25);
        for n in 1..=3 {
            assert!(job.next_line().unwrap().unwrap().starts_with("G1"));
            job.sent(Some(n));
        }
        assert_eq!(job.progress().get(), 25, "nothing acked yet");
        job.acked(2);
        assert_eq!(job.progress().get(), 75);
        assert_eq!(job.next_line().unwrap(), None);
        assert!(!job.is_done());
        job.acked(3);
        assert!(job.is_done());
        assert_eq!(job.progress(), Percent::FULL);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_stop_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.gcode");
        std::fs::write(&path, b"G1 X1 ;\xff\xfe\nG28").unwrap();
        let mut job = JobFile::open(&path).unwrap();
        assert!(job.next_line().unwrap().unwrap().starts_with("G1 X1 ;"));
        assert_eq!(job.next_line().unwrap(), Some("G28"));
    }
}
