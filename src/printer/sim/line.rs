//! The serial line layer of Marlin's `queue.cpp`: assembling bytes into lines (comments
//! stripped, over-long lines cut), the `N<n> … *<xor>` checks, and the emergency parser that
//! sees `M112`/`M108`/`M410` on every byte, even bytes the full receive buffer drops.

/// Marlin's `MAX_CMD_SIZE`: a line keeps at most this many bytes minus the terminator.
const MAX_CMD_SIZE: usize = 96;

/// Why a numbered line was refused; the wording is Marlin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineError {
    LineNumber,
    Checksum,
    NoChecksum,
}

impl LineError {
    /// The message Marlin prints after `Error:`, before the last accepted line number.
    pub(super) fn message(self) -> &'static str {
        match self {
            LineError::LineNumber => "Line Number is not Last Line Number+1, Last Line: ",
            LineError::Checksum => "checksum mismatch, Last Line: ",
            LineError::NoChecksum => "No Checksum with line number, Last Line: ",
        }
    }
}

/// Collects received bytes into lines the way Marlin's `process_stream_char` does.
#[derive(Debug, Default)]
pub(super) struct LineAssembler {
    buf: Vec<u8>,
    skipping: bool,
}

impl LineAssembler {
    /// Takes one byte; returns a completed, non-empty line at `\n` or `\r`.
    pub(super) fn push(&mut self, byte: u8) -> Option<String> {
        if byte == b'\n' || byte == b'\r' {
            self.skipping = false;
            if self.buf.is_empty() {
                return None;
            }
            let line = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            return Some(line);
        }
        if self.skipping {
            return None;
        }
        if byte == b';' {
            self.skipping = true;
            return None;
        }
        self.buf.push(byte);
        if self.buf.len() >= MAX_CMD_SIZE - 1 {
            self.skipping = true;
        }
        None
    }

    /// Forgets the partial line, as Marlin does after a line error.
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.skipping = false;
    }
}

/// How a line announces its number, as `get_serial_commands` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Numbering {
    Unnumbered,
    /// `n` is the number to check; `resets` is true for `M110`, which skips the continuity check.
    Numbered {
        n: i64,
        resets: bool,
    },
}

/// Reads the line number of `line` (leading spaces already removed).
pub(super) fn numbering(line: &str) -> Numbering {
    let Some(after_n) = line.strip_prefix('N') else {
        return Numbering::Unnumbered;
    };
    let resets = line.contains("M110");
    // Marlin takes the number of `M110 N<n>` from the second `N`, searched from byte 4 on.
    let number_text = if resets {
        line.get(4..)
            .and_then(|tail| tail.find('N').map(|at| &tail[at + 1..]))
            .unwrap_or(after_n)
    } else {
        after_n
    };
    Numbering::Numbered {
        n: leading_integer(number_text),
        resets,
    }
}

/// Checks the `*<xor>` suffix of a numbered line.
pub(super) fn verify_checksum(line: &str) -> Result<(), LineError> {
    let Some(star) = line.rfind('*') else {
        return Err(LineError::NoChecksum);
    };
    let expected = line.as_bytes()[..star].iter().fold(0u8, |acc, b| acc ^ b);
    if leading_integer(&line[star + 1..]) == i64::from(expected) {
        Ok(())
    } else {
        Err(LineError::Checksum)
    }
}

/// The command a line carries, without its `N<n>` prefix and `*<xor>` suffix.
pub(super) fn command_text(line: &str) -> &str {
    let mut text = line.trim_start_matches(' ');
    if let Some(rest) = text.strip_prefix('N')
        && rest.starts_with(|c: char| c.is_ascii_digit() || c == '-')
    {
        let digits = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        text = &rest[digits..];
    }
    if let Some(star) = text.rfind('*') {
        text = &text[..star];
    }
    text.trim()
}

/// The XOR checksum a host appends to `N<n> <command>`.
pub fn checksum(text: &str) -> u8 {
    text.bytes().fold(0, |acc, b| acc ^ b)
}

/// Like C's `strtol(text, nullptr, 10)`: an optional sign and the digits that follow, else 0.
fn leading_integer(text: &str) -> i64 {
    let text = text.trim_start();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

/// Commands the emergency parser acts on as soon as their line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Emergency {
    /// `M112`: kill at once.
    Kill,
    /// `M108`: stop waiting for heaters or the user.
    CancelWait,
    /// `M410`: drop every buffered move.
    QuickStop,
}

/// Marlin's `EMERGENCY_PARSER`: watches every byte as it arrives, before the receive buffer.
#[derive(Debug, Default)]
pub(super) struct EmergencyParser {
    head: Vec<u8>,
}

impl EmergencyParser {
    /// Only the start of a line matters: `N<digits> ` plus five command bytes.
    const KEEP: usize = 24;

    pub(super) fn push(&mut self, byte: u8) -> Option<Emergency> {
        if byte == b'\n' || byte == b'\r' {
            let found = Self::classify(&String::from_utf8_lossy(&self.head));
            self.head.clear();
            return found;
        }
        if self.head.len() < Self::KEEP {
            self.head.push(byte);
        }
        None
    }

    fn classify(line: &str) -> Option<Emergency> {
        let command = command_text(line);
        let code = command.get(..4)?;
        let next = command[4..].chars().next();
        if next.is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        match code {
            "M112" => Some(Emergency::Kill),
            "M108" => Some(Emergency::CancelWait),
            "M410" => Some(Emergency::QuickStop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m110_takes_its_number_from_the_second_n() {
        assert_eq!(
            numbering("N7 M110 N42*1"),
            Numbering::Numbered {
                n: 42,
                resets: true
            }
        );
        assert_eq!(
            numbering("N7 G1 X1*1"),
            Numbering::Numbered {
                n: 7,
                resets: false
            }
        );
        assert_eq!(numbering("G1 X1"), Numbering::Unnumbered);
    }

    #[test]
    fn command_text_drops_line_number_and_checksum() {
        assert_eq!(command_text("N12 G1 X5 Y3*99"), "G1 X5 Y3");
        assert_eq!(command_text("M105"), "M105");
        assert_eq!(command_text("  N3 M112"), "M112");
    }

    #[test]
    fn checksum_matches_the_xor_of_the_bytes_before_the_star() {
        let body = "N1 G28";
        let line = format!("{body}*{}", checksum(body));
        assert_eq!(verify_checksum(&line), Ok(()));
        assert_eq!(
            verify_checksum(&format!("{body}*{}", checksum(body) ^ 1)),
            Err(LineError::Checksum)
        );
        assert_eq!(verify_checksum(body), Err(LineError::NoChecksum));
    }

    #[test]
    fn assembler_strips_comments_and_cuts_long_lines() {
        let mut lines = LineAssembler::default();
        let mut out = Vec::new();
        for b in b"G1 X1 ; move\n\r\n"
            .iter()
            .chain([b'A'; 200].iter())
            .chain(b"\n")
        {
            out.extend(lines.push(*b));
        }
        assert_eq!(out[0], "G1 X1 ");
        assert_eq!(out[1].len(), MAX_CMD_SIZE - 1);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn emergency_parser_spots_m112_behind_a_line_number_but_not_m1120() {
        let mut parser = EmergencyParser::default();
        let seen: Vec<_> = b"N5 M112*3\nM1120\nM108\n"
            .iter()
            .filter_map(|b| parser.push(*b))
            .collect();
        assert_eq!(seen, vec![Emergency::Kill, Emergency::CancelWait]);
    }
}
