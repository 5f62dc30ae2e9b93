//! One line of G-code, parsed without allocating: the command (`G1`, `M204`, `T0`) and its
//! letter/number words. Comments (`;` to the end, `( … )` inline), `N` line numbers and
//! `*` checksums are dropped. Lines that cannot be read are errors the analyser counts and
//! skips; they never stop an analysis.

/// Most words a command carries that we keep; more are a [`LineError::TooManyWords`].
const MAX_WORDS: usize = 10;

/// A parsed command with its words, e.g. `G1 X10 E0.5 F1200`.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// `G`, `M` or `T`.
    pub letter: u8,
    /// The number after the letter (`1` of `G1`); `M73.1`-style suffixes are dropped.
    pub code: u16,
    words: [(u8, f64); MAX_WORDS],
    len: usize,
    /// Bit `n` set: a word with letter `A + n` is present (so absent words cost no search).
    present: u32,
    /// The value of the first word with letter `A + n`, where bit `n` of `present` is set:
    /// [`Command::get`] without a search (it runs five times per move).
    first: [f64; LETTERS],
}

const LETTERS: usize = 26;

impl Command {
    /// A command with no words, to be filled by [`Command::read`].
    pub fn new() -> Command {
        Command {
            letter: b'G',
            code: 0,
            words: [(0, 0.0); MAX_WORDS],
            len: 0,
            present: 0,
            first: [0.0; LETTERS],
        }
    }

    /// Parses one line (without its newline) into `self`, reusing it (the analyser reads
    /// millions of lines into one). `Ok(false)`: a blank or comment-only line; `self` is
    /// then meaningless, as it is after an error.
    pub fn read(&mut self, line: &[u8]) -> Result<bool, LineError> {
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
            return Ok(false);
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
        self.letter = letter;
        self.code = code as u16;
        self.len = 0;
        self.present = 0;
        // Text commands carry free text, not words.
        if letter == b'M' && matches!(self.code, 23 | 28 | 30 | 32 | 117 | 118 | 928) {
            return Ok(true);
        }
        cursor.words(self)?;
        Ok(true)
    }

    /// The value of word `letter` (upper case), if present with a number. Always inlined,
    /// as are the other small helpers of the hot path: at opt-level "z" an `#[inline]` hint
    /// is ignored, and the calls were a tenth of the analysis (`perf`, issue #14).
    #[inline(always)]
    pub fn get(&self, letter: u8) -> Option<f64> {
        if !self.has(letter) {
            return None;
        }
        // `has`: an upper-case letter, so within the table.
        Some(self.first[usize::from(letter - b'A')])
    }

    /// Whether word `letter` is present (with or without a number, as in `G28 X`).
    #[inline(always)]
    pub fn has(&self, letter: u8) -> bool {
        self.present & letter_bit(letter) != 0
    }

    /// `(letter, value)` for every word, in order; a bare letter has the value `NaN`.
    #[inline(always)]
    pub fn words(&self) -> &[(u8, f64)] {
        &self.words[..self.len]
    }

    #[inline(always)]
    fn push(&mut self, letter: u8, value: f64) -> Result<(), LineError> {
        let slot = self
            .words
            .get_mut(self.len)
            .ok_or(LineError::TooManyWords)?;
        *slot = (letter, value);
        self.len += 1;
        let index = usize::from(letter.wrapping_sub(b'A'));
        if index < LETTERS && self.present & letter_bit(letter) == 0 {
            self.first[index] = value;
        }
        self.present |= letter_bit(letter);
        Ok(())
    }
}

impl Default for Command {
    fn default() -> Self {
        Command::new()
    }
}

/// Equal when the command and its words are (stale words of a reused command do not count).
impl PartialEq for Command {
    fn eq(&self, other: &Command) -> bool {
        self.letter == other.letter && self.code == other.code && self.words() == other.words()
    }
}

/// The bit of an upper-case letter in [`Command::present`]; 0 for anything else.
#[inline(always)]
fn letter_bit(letter: u8) -> u32 {
    if letter.is_ascii_uppercase() {
        1 << (letter - b'A')
    } else {
        0
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

/// Parses one line (without its newline). `Ok(None)`: a blank or comment-only line. A text
/// command (`M117 Hello`) comes back without words.
pub fn parse(line: &[u8]) -> Result<Option<Command>, LineError> {
    let mut command = Command::new();
    Ok(command.read(line)?.then_some(command))
}

struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// Skips spaces, tabs and `( … )` comments; stops at the end or at `;`/`*`. Inlined:
    /// it runs before every word, and most words follow a single space.
    #[inline(always)]
    fn skip_blank(&mut self) {
        while let Some(&b) = self.line.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'(' => self.skip_parenthesis(),
                _ => return,
            }
        }
    }

    /// Skips a `( … )` comment starting at `pos` (to the end of the line if unclosed).
    #[cold]
    fn skip_parenthesis(&mut self) {
        let rest = &self.line[self.pos..];
        self.pos += rest
            .iter()
            .position(|&c| c == b')')
            .map_or(rest.len(), |i| i + 1);
    }

    /// The next byte in upper case, or `None` at the end of the code part of the line.
    #[inline(always)]
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
            command.push(letter, value)?;
        }
    }

    /// A decimal number (`-12`, `+.5`, `3.`); no exponents, as in G-code. More than 18
    /// integer digits is not a number; fraction digits past 18 significant ones are dropped.
    /// The hottest loop of the analysis: G-code numbers have at most 18 digits, which fit
    /// a `u64` whatever they are, so they are read in one pass over a slice (no per-digit
    /// bounds checks or counting); longer ones are read again by [`long_number`]. Always
    /// inlined: at opt-level "s" a call costs as much as reading a short number.
    #[inline(always)]
    fn number(&mut self) -> Option<f64> {
        let rest = self.line.get(self.pos..)?;
        // Slice patterns, not `&rest[sign..]`: a range index is a call at opt-level "z".
        let (negative, sign, unsigned) = match rest {
            [b'-', tail @ ..] => (true, 1, tail),
            [b'+', tail @ ..] => (false, 1, tail),
            _ => (false, 0, rest),
        };
        let (mut mantissa, integer_digits) = digits(unsigned, 0);
        let mut fraction_digits = 0;
        let mut end = integer_digits;
        if let Some((b'.', fraction)) = unsigned.get(integer_digits..).and_then(<[u8]>::split_first)
        {
            (mantissa, fraction_digits) = digits(fraction, mantissa);
            end += 1 + fraction_digits;
        }
        let value = match integer_digits + fraction_digits {
            // A lone sign or point is not a number.
            0 => return None,
            1..=MAX_DIGITS => decimal(mantissa, fraction_digits as u32),
            _ => long_number(&unsigned[..end])?,
        };
        self.pos += sign + end;
        Some(if negative { -value } else { value })
    }
}

/// Significant digits a number keeps (all of them fit a `u64`).
const MAX_DIGITS: usize = 18;

/// The leading decimal digits of `bytes` appended to `mantissa` (wrapping: callers check
/// the count), and how many there were.
#[inline(always)]
fn digits(bytes: &[u8], mut mantissa: u64) -> (u64, usize) {
    let mut count = 0;
    for &b in bytes {
        // Widened first: the digit is then added without another extension.
        let d = u64::from(b).wrapping_sub(u64::from(b'0'));
        if d >= 10 {
            break;
        }
        mantissa = mantissa.wrapping_mul(10).wrapping_add(d);
        count += 1;
    }
    (mantissa, count)
}

/// An unsigned number of more than [`MAX_DIGITS`] digits (`digits`: digits and at most one
/// point): leading zeros are skipped, fraction digits past the kept ones dropped; `None`
/// when the integer part alone has too many significant digits.
fn long_number(digits: &[u8]) -> Option<f64> {
    let mut mantissa = 0u64;
    let mut kept = 0;
    let mut fraction_digits = 0;
    let mut in_fraction = false;
    for &b in digits {
        if b == b'.' {
            in_fraction = true;
        } else if kept < MAX_DIGITS {
            mantissa = mantissa * 10 + u64::from(b - b'0');
            kept += usize::from(mantissa > 0);
            fraction_digits += u32::from(in_fraction);
        } else if !in_fraction {
            return None;
        }
    }
    Some(decimal(mantissa, fraction_digits))
}

/// `mantissa / 10^frac_digits`; exact powers of ten up to 1e18 keep this correctly rounded
/// for the short numbers G-code has.
#[inline(always)]
fn decimal(mantissa: u64, frac_digits: u32) -> f64 {
    const POW10: [f64; 19] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18,
    ];
    // Through `i64`: one conversion instruction instead of the unsigned sequence, and the
    // same value, as a mantissa of at most 18 digits is below 2^63.
    let value = mantissa as i64 as f64;
    if frac_digits == 0 {
        // Exactly `value / 1e0`, without the division (most codes and many words).
        return value;
    }
    match POW10.get(frac_digits as usize) {
        Some(scale) => value / scale,
        None => value / 10f64.powi(frac_digits as i32),
    }
}
