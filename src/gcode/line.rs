//! One line of G-code, parsed without allocating: the command (`G1`, `M204`, `T0`) and its
//! letter/number words. Comments (`;` to the end, `( … )` inline), `N` line numbers and
//! `*` checksums are dropped. Lines that cannot be read are errors the analyser counts and
//! skips; they never stop an analysis.

/// Most words a command carries that we keep; more are a [`LineError::TooManyWords`].
const MAX_WORDS: usize = 10;

/// A parsed command with its words, e.g. `G1 X10 E0.5 F1200`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Command {
    /// `G`, `M` or `T`.
    pub letter: u8,
    /// The number after the letter (`1` of `G1`); `M73.1`-style suffixes are dropped.
    pub code: u16,
    words: [(u8, f64); MAX_WORDS],
    len: usize,
}

impl Command {
    /// The value of word `letter` (upper case), if present with a number.
    pub fn get(&self, letter: u8) -> Option<f64> {
        self.words[..self.len]
            .iter()
            .find(|(l, _)| *l == letter)
            .map(|(_, v)| *v)
    }

    /// Whether word `letter` is present (with or without a number, as in `G28 X`).
    pub fn has(&self, letter: u8) -> bool {
        self.words[..self.len].iter().any(|(l, _)| *l == letter)
    }

    /// `(letter, value)` for every word, in order; a bare letter has the value `NaN`.
    pub fn words(&self) -> &[(u8, f64)] {
        &self.words[..self.len]
    }
}

/// Why a line could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("the line has no command letter at column {column}")]
    NoCommand { column: usize },
    #[error("the command number at column {column} is not a number")]
    BadCode { column: usize },
    #[error("the value of word {letter:?} at column {column} is not a number")]
    BadNumber { letter: char, column: usize },
    #[error("the command has more than {MAX_WORDS} words")]
    TooManyWords,
}

/// Parses one line (without its newline). `Ok(None)`: a blank or comment-only line, or a
/// command we do not read (strings after `M117`, `M118`, …).
pub fn parse(line: &[u8]) -> Result<Option<Command>, LineError> {
    let mut cursor = Cursor { line, pos: 0 };
    cursor.skip_blank();
    if cursor.peek_upper() == Some(b'N') {
        cursor.pos += 1;
        cursor
            .number()
            .ok_or(LineError::BadCode { column: cursor.pos })?;
        cursor.skip_blank();
    }
    let Some(letter) = cursor.peek_upper() else {
        return Ok(None);
    };
    if !matches!(letter, b'G' | b'M' | b'T') {
        return Err(LineError::NoCommand { column: cursor.pos });
    }
    cursor.pos += 1;
    let column = cursor.pos;
    let code = cursor.number().ok_or(LineError::BadCode { column })?;
    if !(0.0..=f64::from(u16::MAX)).contains(&code) {
        return Err(LineError::BadCode { column });
    }
    let mut command = Command {
        letter,
        code: code as u16,
        words: [(0, 0.0); MAX_WORDS],
        len: 0,
    };
    // Text commands carry free text, not words.
    if letter == b'M' && matches!(command.code, 23 | 28 | 30 | 32 | 117 | 118 | 928) {
        return Ok(Some(command));
    }
    cursor.words(&mut command)?;
    Ok(Some(command))
}

struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// Skips spaces, tabs and `( … )` comments; stops at the end or at `;`/`*`.
    fn skip_blank(&mut self) {
        while let Some(&b) = self.line.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'(' => {
                    let rest = &self.line[self.pos..];
                    self.pos += rest
                        .iter()
                        .position(|&c| c == b')')
                        .map_or(rest.len(), |i| i + 1);
                }
                _ => return,
            }
        }
    }

    /// The next byte in upper case, or `None` at the end of the code part of the line.
    fn peek_upper(&self) -> Option<u8> {
        match self.line.get(self.pos) {
            None | Some(b';' | b'*' | b'\n') => None,
            Some(b) => Some(b.to_ascii_uppercase()),
        }
    }

    fn words(&mut self, command: &mut Command) -> Result<(), LineError> {
        loop {
            self.skip_blank();
            let Some(letter) = self.peek_upper() else {
                return Ok(());
            };
            let column = self.pos;
            if !letter.is_ascii_uppercase() {
                return Err(LineError::NoCommand { column });
            }
            self.pos += 1;
            let value = match self.line.get(self.pos) {
                None | Some(b' ' | b'\t' | b'\r' | b';' | b'*') => f64::NAN,
                Some(_) => self.number().ok_or(LineError::BadNumber {
                    letter: char::from(letter),
                    column,
                })?,
            };
            if command.len == MAX_WORDS {
                return Err(LineError::TooManyWords);
            }
            command.words[command.len] = (letter, value);
            command.len += 1;
        }
    }

    /// A decimal number (`-12`, `+.5`, `3.`); no exponents, as in G-code. More than 18
    /// integer digits is not a number; fraction digits past 18 significant ones are dropped.
    fn number(&mut self) -> Option<f64> {
        let start = self.pos;
        let negative = self.line.get(self.pos) == Some(&b'-');
        if matches!(self.line.get(self.pos), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let mut digits = Digits::default();
        self.digits(&mut digits, false);
        if self.line.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits(&mut digits, true);
        }
        if digits.seen == 0 || digits.overflow {
            self.pos = start;
            return None;
        }
        let value = decimal(digits.mantissa, digits.fraction);
        Some(if negative { -value } else { value })
    }

    fn digits(&mut self, digits: &mut Digits, fraction: bool) {
        while let Some(&b) = self.line.get(self.pos) {
            if !b.is_ascii_digit() {
                break;
            }
            digits.seen += 1;
            if digits.kept < 18 {
                digits.mantissa = digits.mantissa * 10 + u64::from(b - b'0');
                digits.kept += u32::from(digits.mantissa > 0);
                digits.fraction += u32::from(fraction);
            } else if !fraction {
                digits.overflow = true;
            }
            self.pos += 1;
        }
    }
}

#[derive(Default)]
struct Digits {
    mantissa: u64,
    /// Significant digits kept in `mantissa` (leading zeros do not count).
    kept: u32,
    /// How many of the kept digits (and fraction zeros) are after the point.
    fraction: u32,
    seen: u32,
    overflow: bool,
}

/// `mantissa / 10^frac_digits`; exact powers of ten up to 1e18 keep this correctly rounded
/// for the short numbers G-code has.
fn decimal(mantissa: u64, frac_digits: u32) -> f64 {
    const POW10: [f64; 19] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18,
    ];
    match POW10.get(frac_digits as usize) {
        Some(scale) => mantissa as f64 / scale,
        None => mantissa as f64 / 10f64.powi(frac_digits as i32),
    }
}
