//! Firmware error lines (`Error:…`, Klipper's `!! …`, Marlin's `echo:Unknown command`),
//! classified so that the session can tell a transmission hiccup from a halted printer.
//!
//! Fatal kinds match what Marlin prints from `kill()`/`Stop()` and the thermal protection:
//! `Error:Printer halted. kill() called!`, `Error:Thermal Runaway, system stopped! Heater_ID: 0`,
//! `Error:MAXTEMP triggered, …`, `Error:MINTEMP triggered, …`, `Error:Heating failed, …`,
//! `Error:Printer stopped due to errors. …`. After one of them the printer needs a reset.

use super::temps::Heater;

/// What went wrong, as far as the firmware told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareErrorKind {
    /// `kill()` was called: the printer is halted until reset.
    Killed,
    /// `Stop()` was called (`M999` needed).
    Stopped,
    ThermalRunaway {
        heater: Option<Heater>,
    },
    ThermalMalfunction {
        heater: Option<Heater>,
    },
    MaxTemp {
        heater: Option<Heater>,
    },
    MinTemp {
        heater: Option<Heater>,
    },
    HeatingFailed {
        heater: Option<Heater>,
    },
    /// `Line Number is not Last Line Number+1`: a line was lost or sent twice.
    LineNumber {
        last_line: Option<u32>,
    },
    /// `checksum mismatch`: a line was garbled on the wire.
    Checksum {
        last_line: Option<u32>,
    },
    /// `No Checksum with line number` / `No Line Number with checksum`.
    MissingChecksum {
        last_line: Option<u32>,
    },
    UnknownCommand,
    /// Anything else the firmware flagged as an error.
    Other,
}

/// One error reported by the firmware, with its original text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("firmware error: {message}")]
pub struct FirmwareError {
    pub kind: FirmwareErrorKind,
    pub message: String,
}

impl FirmwareError {
    /// Classifies the text after `Error:` (or `!!`).
    pub fn classify(message: &str) -> FirmwareError {
        let lower = message.to_ascii_lowercase();
        let heater = || heater_in(&lower);
        let last_line = || last_line_in(&lower);
        let kind = if lower.contains("kill() called") || lower.contains("printer halted") {
            FirmwareErrorKind::Killed
        } else if lower.contains("thermal runaway") {
            FirmwareErrorKind::ThermalRunaway { heater: heater() }
        } else if lower.contains("thermal malfunction") {
            FirmwareErrorKind::ThermalMalfunction { heater: heater() }
        } else if lower.contains("maxtemp") {
            FirmwareErrorKind::MaxTemp { heater: heater() }
        } else if lower.contains("mintemp") {
            FirmwareErrorKind::MinTemp { heater: heater() }
        } else if lower.contains("heating failed") {
            FirmwareErrorKind::HeatingFailed { heater: heater() }
        } else if lower.contains("printer stopped due to errors") {
            FirmwareErrorKind::Stopped
        } else if lower.contains("line number is not") {
            FirmwareErrorKind::LineNumber {
                last_line: last_line(),
            }
        } else if lower.contains("checksum mismatch") {
            FirmwareErrorKind::Checksum {
                last_line: last_line(),
            }
        } else if lower.contains("no checksum") || lower.contains("no line number") {
            FirmwareErrorKind::MissingChecksum {
                last_line: last_line(),
            }
        } else if lower.contains("unknown command") {
            FirmwareErrorKind::UnknownCommand
        } else {
            FirmwareErrorKind::Other
        };
        FirmwareError {
            kind,
            message: message.trim().to_owned(),
        }
    }

    /// True when the printer stopped and no further command will be executed.
    pub fn is_fatal(&self) -> bool {
        use FirmwareErrorKind as K;
        matches!(
            self.kind,
            K::Killed
                | K::Stopped
                | K::ThermalRunaway { .. }
                | K::ThermalMalfunction { .. }
                | K::MaxTemp { .. }
                | K::MinTemp { .. }
                | K::HeatingFailed { .. }
        )
    }
}

/// `Heater_ID: 0|bed|chamber` (Marlin 1.1+), else a bare `E1`/`T0` token or the word "bed".
fn heater_in(lower: &str) -> Option<Heater> {
    if let Some((_, rest)) = lower.split_once("heater_id:") {
        let id = rest
            .trim_start()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()?;
        return match id {
            "bed" => Some(Heater::Bed),
            "chamber" => Some(Heater::Chamber),
            "probe" => Some(Heater::Probe),
            "redundant" => Some(Heater::Redundant),
            digits => digits.parse().ok().map(Heater::Hotend),
        };
    }
    let words = lower.split(|c: char| !c.is_ascii_alphanumeric());
    for word in words {
        match word {
            "bed" | "b" => return Some(Heater::Bed),
            "chamber" => return Some(Heater::Chamber),
            _ => {}
        }
        let tool = word.strip_prefix('e').or_else(|| word.strip_prefix('t'));
        if let Some(index) = tool.and_then(|d| d.parse::<u8>().ok()) {
            return Some(Heater::Hotend(index));
        }
    }
    None
}

/// The number after `Last Line:`.
fn last_line_in(lower: &str) -> Option<u32> {
    let (_, rest) = lower.split_once("last line:")?;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use FirmwareErrorKind as K;

    fn kind(message: &str) -> FirmwareErrorKind {
        FirmwareError::classify(message).kind
    }

    #[test]
    fn kill_and_thermal_errors_are_fatal_and_carry_the_heater() {
        assert_eq!(kind("Printer halted. kill() called!"), K::Killed);
        assert_eq!(
            kind("Thermal Runaway, system stopped! Heater_ID: bed"),
            K::ThermalRunaway {
                heater: Some(Heater::Bed)
            }
        );
        assert_eq!(
            kind("MAXTEMP triggered, system stopped! Heater_ID: 1"),
            K::MaxTemp {
                heater: Some(Heater::Hotend(1))
            }
        );
        assert_eq!(
            kind(" MINTEMP triggered E1"),
            K::MinTemp {
                heater: Some(Heater::Hotend(1))
            }
        );
        assert_eq!(
            kind("Heating failed, system stopped! Heater_ID: 0"),
            K::HeatingFailed {
                heater: Some(Heater::Hotend(0))
            }
        );
        assert_eq!(
            kind("BED MAXTEMP"),
            K::MaxTemp {
                heater: Some(Heater::Bed)
            }
        );
        assert_eq!(
            kind("Printer stopped due to errors. Fix the error and use M999 to restart."),
            K::Stopped
        );
        for message in [
            "Printer halted. kill() called!",
            "Thermal Runaway",
            "MINTEMP",
        ] {
            assert!(FirmwareError::classify(message).is_fatal(), "{message}");
        }
    }

    #[test]
    fn transmission_errors_are_not_fatal_and_carry_the_last_line() {
        let e = FirmwareError::classify("Line Number is not Last Line Number+1, Last Line: 41");
        assert_eq!(
            e.kind,
            K::LineNumber {
                last_line: Some(41)
            }
        );
        assert!(!e.is_fatal());
        assert_eq!(
            kind("checksum mismatch, Last Line: 7"),
            K::Checksum { last_line: Some(7) }
        );
        assert_eq!(
            kind("No Checksum with line number, Last Line: 3"),
            K::MissingChecksum { last_line: Some(3) }
        );
        assert_eq!(kind("Unknown command: \"M9999\""), K::UnknownCommand);
        assert_eq!(kind("something new"), K::Other);
        assert!(!FirmwareError::classify("checksum mismatch").is_fatal());
    }
}
