//! Validation of a printer's option tables: `[printers.safety]`, `[printers.serial]` and
//! `[printers.simulator]`.
//!
//! Omitted keys take the defaults in [`types`](super::types). Script lines are checked
//! against the same printer's blocked commands here: the gateway would refuse such a line
//! when it is sent, and finding out halfway through a cancel script (heaters still on) is
//! much worse than finding out at start-up.

use std::ops::RangeInclusive;

use super::raw::{RawSafety, RawSerial};
use super::simulator::{SimConfig, SimConfigError};
use super::types::{
    MAX_IN_FLIGHT_RANGE, OK_TIMEOUT_S_RANGE, RX_BUFFER_BYTES_RANGE, leading_command,
};
use super::validate::Problems;
use super::{FlowControlMode, Problem, SafetyPolicy, SerialOptions};

/// `[printers.safety]` at `key`, with defaults for what is omitted.
pub(crate) fn safety(
    key: &str,
    raw: Option<RawSafety>,
    problems: &mut Problems,
) -> Option<SafetyPolicy> {
    let raw = raw.unwrap_or_default();
    let defaults = SafetyPolicy::default();
    let mut cap = |name: &str, value: Option<f64>, default: f64| {
        let value = value.unwrap_or(default);
        let checked = if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(Problem::NotPositiveTemperature { value })
        };
        problems.check(&format!("{key}.{name}"), checked)
    };
    let max_hotend_c = cap("max_hotend_c", raw.max_hotend_c, defaults.max_hotend_c);
    let max_bed_c = cap("max_bed_c", raw.max_bed_c, defaults.max_bed_c);
    let blocked_commands = match raw.blocked_commands {
        Some(words) => each(
            &format!("{key}.blocked_commands"),
            words,
            command_word,
            problems,
        ),
        None => Some(defaults.blocked_commands),
    };
    Some(SafetyPolicy {
        max_hotend_c: max_hotend_c?,
        max_bed_c: max_bed_c?,
        blocked_commands: blocked_commands?,
    })
}

/// `[printers.serial]` at `key`, with defaults for what is omitted. With `safety` known,
/// script lines that send a blocked command are errors.
pub(crate) fn serial(
    key: &str,
    raw: Option<RawSerial>,
    safety: Option<&SafetyPolicy>,
    problems: &mut Problems,
) -> Option<SerialOptions> {
    let raw = raw.unwrap_or_default();
    let defaults = SerialOptions::default();
    let flow_control = match raw.flow_control {
        Some(value) => problems.check(
            &format!("{key}.flow_control"),
            FlowControlMode::from_name(&value).ok_or(Problem::FlowControl { value }),
        ),
        None => Some(defaults.flow_control),
    };
    let rx_buffer_bytes = size(
        &format!("{key}.rx_buffer_bytes"),
        raw.rx_buffer_bytes,
        defaults.rx_buffer_bytes,
        RX_BUFFER_BYTES_RANGE,
        problems,
    );
    let max_in_flight = size(
        &format!("{key}.max_in_flight"),
        raw.max_in_flight,
        defaults.max_in_flight,
        MAX_IN_FLIGHT_RANGE,
        problems,
    );
    let ok_timeout_s = problems.check(
        &format!("{key}.ok_timeout_s"),
        in_range(
            raw.ok_timeout_s.unwrap_or(defaults.ok_timeout_s),
            OK_TIMEOUT_S_RANGE,
        ),
    );
    let mut script = |name: &str, lines: Option<Vec<String>>, default: Vec<String>| {
        let Some(lines) = lines else {
            return Some(default);
        };
        let check = |line| script_line(line, safety);
        each(&format!("{key}.{name}"), lines, check, problems)
    };
    let pause_script = script("pause_script", raw.pause_script, defaults.pause_script);
    let resume_script = script("resume_script", raw.resume_script, defaults.resume_script);
    let cancel_script = script("cancel_script", raw.cancel_script, defaults.cancel_script);
    Some(SerialOptions {
        flow_control: flow_control?,
        rx_buffer_bytes: rx_buffer_bytes?,
        max_in_flight: max_in_flight?,
        ok_timeout_s: ok_timeout_s?,
        pause_script: pause_script?,
        resume_script: resume_script?,
        cancel_script: cancel_script?,
    })
}

/// `[printers.simulator]` at `key`: the simulator's defaults for what is omitted, then its
/// own check, reported under the key of the setting it is about.
pub(crate) fn simulator(
    key: &str,
    raw: Option<SimConfig>,
    problems: &mut Problems,
) -> Option<SimConfig> {
    let config = raw.unwrap_or_default();
    match config.validate() {
        Ok(()) => Some(config),
        Err(source) => {
            let field = simulator_key(&source);
            problems.add(format!("{key}.{field}"), Problem::Simulator { source });
            None
        }
    }
}

/// The `[printers.simulator]` key a simulator check failed on.
fn simulator_key(error: &SimConfigError) -> &'static str {
    match error {
        SimConfigError::TooSmall { key, .. }
        | SimConfigError::NotPositive { key, .. }
        | SimConfigError::MaxBelowAmbient { key, .. } => key,
        SimConfigError::CorruptRate(_) => "corrupt_every",
        SimConfigError::ZeroWireSpeed => "bytes_per_second",
    }
}

/// Checks each item of a list; bad ones are reported with their index.
fn each<T>(
    key: &str,
    items: Vec<String>,
    check: impl Fn(String) -> Result<T, Problem>,
    problems: &mut Problems,
) -> Option<Vec<T>> {
    let checked: Vec<Option<T>> = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| problems.check(&format!("{key}[{index}]"), check(item)))
        .collect();
    checked.into_iter().collect()
}

/// A whole `[GMT]<digits>` word, normalized as [`leading_command`] does (`m0500` → `M500`)
/// so that the blocked list compares equal to what a line's command normalizes to.
fn command_word(value: String) -> Result<String, Problem> {
    let trimmed = value.trim();
    let only_digits_after_letter = trimmed
        .get(1..)
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    match leading_command(trimmed).filter(|_| only_digits_after_letter) {
        Some(word) => Ok(word),
        None => Err(Problem::NotCommandWord { value }),
    }
}

/// One script line: trimmed, non-empty, a single line, and not a blocked command.
fn script_line(line: String, safety: Option<&SafetyPolicy>) -> Result<String, Problem> {
    let line = line.trim();
    if line.is_empty() {
        return Err(Problem::Empty);
    }
    if line.chars().any(char::is_control) {
        return Err(Problem::ScriptLine);
    }
    if let Some(command) = safety.and_then(|policy| policy.blocked_command(line)) {
        let command = command.to_owned();
        return Err(Problem::BlockedInScript { command });
    }
    Ok(line.to_owned())
}

/// A size read as `u64`, checked against a `usize` range.
fn size(
    key: &str,
    raw: Option<u64>,
    default: usize,
    range: RangeInclusive<usize>,
    problems: &mut Problems,
) -> Option<usize> {
    let widen = |value: usize| value as u64;
    let range = widen(*range.start())..=widen(*range.end());
    let value = problems.check(key, in_range(raw.unwrap_or(widen(default)), range))?;
    // In range, and the range's ends came from `usize`, so the value fits.
    usize::try_from(value).ok()
}

/// `value`, or `OutOfRange` when it is outside `range`.
pub(super) fn in_range(value: u64, range: RangeInclusive<u64>) -> Result<u64, Problem> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Problem::OutOfRange {
            value,
            min: *range.start(),
            max: *range.end(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{command_word, script_line};
    use crate::config::SafetyPolicy;

    #[test]
    fn blocked_command_words_are_uppercased_without_leading_zeros() {
        assert_eq!(command_word("m500".into()).unwrap(), "M500");
        assert_eq!(command_word(" G0029 ".into()).unwrap(), "G29");
        assert_eq!(command_word("T1".into()).unwrap(), "T1");
    }

    #[test]
    fn anything_but_a_letter_and_digits_is_not_a_command_word() {
        for value in [
            "",
            "M",
            "500",
            "X10",
            "M500 S1",
            "M5a",
            "M862.3",
            "é5",
            "M99999999999",
        ] {
            assert!(command_word(value.into()).is_err(), "{value:?} accepted");
        }
    }

    #[test]
    fn a_script_line_that_starts_with_a_blocked_command_is_refused_however_written() {
        let policy = SafetyPolicy::default();
        for line in ["M500", "m500 ; save", "M0500", "M502S1"] {
            assert!(script_line(line.into(), Some(&policy)).is_err(), "{line:?}");
        }
        assert_eq!(
            script_line("  M5000 ".into(), Some(&policy)).unwrap(),
            "M5000"
        );
        assert!(script_line("M104 S0\nM500".into(), Some(&policy)).is_err());
    }
}
