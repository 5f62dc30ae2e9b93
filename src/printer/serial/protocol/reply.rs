//! Incoming line parsing: one firmware line in, one typed [`Reply`] out.
//!
//! Parsing never fails and never panics: whatever is not recognised becomes
//! [`Reply::Other`], so noise on the wire (a bootloader's garbage, a half line after a
//! reset) cannot stop the session.

use super::error::FirmwareError;
use super::firmware::{FirmwareInfo, parse_capability};
use super::temps::Temperatures;

/// What a `busy:` keep-alive says the firmware is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusyKind {
    /// `busy: processing` (a long move, homing, heating).
    Processing,
    /// `busy: paused for user` (`M600` filament change, `M0`).
    PausedForUser,
    /// `busy: paused for input` / `waiting for user`.
    WaitingForUser,
    Other(String),
}

/// One line from the firmware.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `ok`, with ADVANCED_OK's `N<line> P<planner> B<buffer>` and `M105` temperatures.
    Ok {
        line: Option<u32>,
        planner: Option<u32>,
        buffer: Option<u32>,
        temps: Option<Temperatures>,
    },
    /// `Resend: n` / `rs n`: send again from line `n`.
    Resend(u32),
    Error(FirmwareError),
    Busy(BusyKind),
    /// The board (re)booted.
    Start,
    /// Idle keep-alive: the firmware has nothing to do.
    Wait,
    Echo(String),
    /// `//action:…` host action command (`pause`, `resume`, `cancel`, …).
    HostAction(String),
    Temperatures(Temperatures),
    /// A heat-up's progress line (`T:… W:…`), printed every second while `M109`/`M190`
    /// wait: a sign of life of the command, unlike an auto-report.
    Heating(Temperatures),
    FirmwareInfo(FirmwareInfo),
    Capability {
        name: String,
        enabled: bool,
    },
    Other(String),
}

impl Reply {
    /// Classifies one line (with or without its line ending).
    pub fn parse(raw: &str) -> Reply {
        let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        if let Some(reply) = parse_ok(line) {
            return reply;
        }
        if let Some(line_number) = parse_resend(line) {
            return Reply::Resend(line_number);
        }
        if let Some(message) =
            strip_prefix_ignore_case(line, "error:").or_else(|| line.strip_prefix("!!"))
        {
            return Reply::Error(FirmwareError::classify(message));
        }
        if let Some(action) = line.strip_prefix("//action:") {
            return Reply::HostAction(action.trim().to_owned());
        }
        if let Some(echo) = line.strip_prefix("echo:") {
            return parse_echo(echo.trim());
        }
        if let Some(busy) = line.strip_prefix("busy:") {
            return Reply::Busy(busy_kind(busy.trim()));
        }
        parse_plain(line)
    }
}

fn parse_plain(line: &str) -> Reply {
    match line {
        "start" => return Reply::Start,
        "wait" => return Reply::Wait,
        _ => {}
    }
    if line.starts_with("FIRMWARE_NAME:") || line.starts_with("FIRMWARE_VERSION:") {
        if let Some(info) = FirmwareInfo::parse(line) {
            return Reply::FirmwareInfo(info);
        }
    }
    if let Some((name, enabled)) = parse_capability(line) {
        return Reply::Capability { name, enabled };
    }
    if starts_like_temperatures(line) {
        if let Some(temps) = Temperatures::parse(line) {
            let heating = line.split_whitespace().any(|token| token.starts_with("W:"));
            return if heating {
                Reply::Heating(temps)
            } else {
                Reply::Temperatures(temps)
            };
        }
    }
    Reply::Other(line.to_owned())
}

fn parse_ok(line: &str) -> Option<Reply> {
    let rest = line.strip_prefix("ok")?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let mut reply_line = None;
    let mut planner = None;
    let mut buffer = None;
    for token in rest.split_whitespace() {
        let (field, value) = token.split_at(token.chars().next().map_or(0, char::len_utf8));
        let value = || value.parse::<u32>().ok();
        match field {
            "N" => reply_line = reply_line.or_else(value),
            "P" if !token.contains(':') => planner = planner.or_else(value),
            "B" if !token.contains(':') => buffer = buffer.or_else(value),
            _ => {}
        }
    }
    let temps = Temperatures::parse(rest);
    Some(Reply::Ok {
        line: reply_line,
        planner,
        buffer,
        temps,
    })
}

/// `Resend: 12`, `Resend:12`, `resend 12`, `rs 12`, `rs N12`.
fn parse_resend(line: &str) -> Option<u32> {
    let rest = strip_prefix_ignore_case(line, "resend").or_else(|| {
        line.strip_prefix("rs")
            .filter(|r| r.starts_with([' ', ':']))
    })?;
    let rest = rest
        .trim_start_matches([' ', ':'])
        .trim_start_matches(['N', 'n']);
    let digits: &str = &rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())];
    digits.parse().ok()
}

fn parse_echo(echo: &str) -> Reply {
    if let Some(busy) = echo.strip_prefix("busy:") {
        return Reply::Busy(busy_kind(busy.trim()));
    }
    if strip_prefix_ignore_case(echo, "unknown command").is_some() {
        return Reply::Error(FirmwareError::classify(echo));
    }
    Reply::Echo(echo.to_owned())
}

fn busy_kind(text: &str) -> BusyKind {
    match text.to_ascii_lowercase().as_str() {
        "processing" => BusyKind::Processing,
        "paused for user" => BusyKind::PausedForUser,
        "paused for input" | "waiting for user" => BusyKind::WaitingForUser,
        _ => BusyKind::Other(text.to_owned()),
    }
}

fn starts_like_temperatures(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    let key = first.split(':').next().unwrap_or("");
    first.contains(':')
        && (key == "T"
            || key == "B"
            || key
                .strip_prefix('T')
                .is_some_and(|d| d.parse::<u8>().is_ok()))
}

fn strip_prefix_ignore_case<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &line[prefix.len()..])
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
