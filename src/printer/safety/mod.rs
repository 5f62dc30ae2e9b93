//! The per-printer safety policy, applied to every line of a job before it reaches the
//! printer: heater targets above the caps and commands on the block list (firmware flashing,
//! EEPROM save and reset by default) are refused, and the job fails with the reason. A driver
//! that streams lines checks each one as it goes ([`Safety::check`]); one that hands the
//! whole file to a print host checks the file before the upload ([`check_file`]).

mod file;

pub use file::{CheckedFile, FileCheckError, check_file, check_file_digest};

use crate::config::{SafetyPolicy, leading_command};

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{command} is not allowed from a job on this printer")]
    Blocked { command: String },
    #[error(
        "{line:?} asks for {requested_c} °C on the {heater}; this printer allows at most {max_c} °C"
    )]
    TooHot {
        line: String,
        heater: &'static str,
        requested_c: f64,
        max_c: f64,
    },
}

/// Checks job lines against a printer's policy.
#[derive(Debug, Clone)]
pub struct Safety {
    policy: SafetyPolicy,
}

impl From<&SafetyPolicy> for Safety {
    fn from(policy: &SafetyPolicy) -> Safety {
        Safety {
            policy: policy.clone(),
        }
    }
}

impl Safety {
    /// `Ok` when `line` (a G-code line, comment stripped) may be sent.
    pub fn check(&self, line: &str) -> Result<(), Refusal> {
        let Some(command) = leading_command(line) else {
            return Ok(());
        };
        if self.policy.blocked_command(line).is_some() {
            return Err(Refusal::Blocked { command });
        }
        let (heater, max_c) = match command.as_str() {
            "M104" | "M109" | "M303" | "M568" => ("hotend", self.policy.max_hotend_c),
            "M140" | "M190" => ("bed", self.policy.max_bed_c),
            _ => return Ok(()),
        };
        // Targets come as S (set) or R (wait for, cooling included); both must respect the cap.
        for (letter, value) in parameters(line) {
            if !matches!(letter, 'S' | 'R') {
                continue;
            }
            match value.parse::<f64>() {
                Ok(requested_c) if requested_c <= max_c => {}
                // An unparsable target is refused too: the firmware would read it differently.
                parsed => {
                    return Err(Refusal::TooHot {
                        line: line.trim().to_owned(),
                        heater,
                        requested_c: parsed.unwrap_or(f64::NAN),
                        max_c,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The parameters after the command word, read as Marlin's parser does: a letter, then its
/// value up to the next letter, spaces optional (`M104S300` is `M104 S300`).
fn parameters(line: &str) -> Vec<(char, &str)> {
    let body = line.trim_start();
    let after_command = body
        .char_indices()
        .skip(1)
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(body.len(), |(i, _)| i);
    let rest = &body[after_command..];
    let mut found = Vec::new();
    let starts: Vec<(usize, char)> = rest
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .collect();
    for (k, &(at, letter)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(rest.len(), |(next, _)| *next);
        found.push((letter.to_ascii_uppercase(), rest[at + 1..end].trim()));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety() -> Safety {
        Safety::from(&SafetyPolicy {
            max_hotend_c: 260.0,
            max_bed_c: 100.0,
            blocked_commands: vec!["M500".into(), "M502".into(), "M997".into()],
        })
    }

    #[test]
    fn heater_targets_within_the_caps_pass() {
        for line in [
            "M104 S215",
            "M109 S260",
            "M140 S60",
            "M190 R100",
            "G1 X10 S999",
            "M106 S255",
        ] {
            assert_eq!(safety().check(line), Ok(()), "{line}");
        }
    }

    #[test]
    fn heater_targets_above_the_caps_are_refused_with_the_numbers() {
        let err = safety().check("M104 S300").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"M104 S300\" asks for 300 °C on the hotend; this printer allows at most 260 °C"
        );
        assert!(matches!(
            safety().check("M190 R120"),
            Err(Refusal::TooHot { heater: "bed", .. })
        ));
        assert!(matches!(
            safety().check("m109 s261"),
            Err(Refusal::TooHot { .. })
        ));
        assert!(matches!(
            safety().check("M104 Sabc"),
            Err(Refusal::TooHot { .. })
        ));
    }

    #[test]
    fn blocked_commands_are_refused_in_any_spelling() {
        for line in ["M500", "m502", "M0997", "M997 S1"] {
            assert!(
                matches!(safety().check(line), Err(Refusal::Blocked { .. })),
                "{line}"
            );
        }
        assert_eq!(safety().check("M501"), Ok(()));
    }
}
