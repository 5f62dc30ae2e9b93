//! The printer's safety caps as Klipper reads G-code. Klipper takes Marlin's `M104`/`M140`
//! (checked by the shared [`Safety`]) and also its own `SET_HEATER_TEMPERATURE
//! HEATER=extruder TARGET=…`, which would pass that check unseen; here it meets the same
//! hotend and bed caps. Pure: every job line and every script the driver sends goes
//! through [`KlipperSafety::check`]. Macros (`PRINT_START EXTRUDER=…`) stay Klipper's
//! business: its own `max_temp` per heater still applies to them.

use crate::config::SafetyPolicy;
use crate::printer::safety::{Refusal, Safety};

/// A printer's caps for the lines a Klipper printer gets.
#[derive(Debug, Clone)]
pub struct KlipperSafety {
    safety: Safety,
    max_hotend_c: f64,
    max_bed_c: f64,
}

impl From<&SafetyPolicy> for KlipperSafety {
    fn from(policy: &SafetyPolicy) -> Self {
        KlipperSafety {
            safety: Safety::from(policy),
            max_hotend_c: policy.max_hotend_c,
            max_bed_c: policy.max_bed_c,
        }
    }
}

impl KlipperSafety {
    /// `Ok` when `line` (comment stripped) may reach Klipper.
    pub fn check(&self, line: &str) -> Result<(), Refusal> {
        self.safety.check(line)?;
        let mut words = line.split_whitespace();
        let is_set_heater = words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("SET_HEATER_TEMPERATURE"));
        if !is_set_heater {
            return Ok(());
        }
        // Klipper's extended parameters: `NAME=value`, names in any case, values quoted
        // shell-style; an omitted TARGET is 0 (off).
        let (mut heater, mut target) = (None, "0");
        for (name, value) in words.filter_map(|w| w.split_once('=')) {
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            if name.eq_ignore_ascii_case("HEATER") {
                heater = Some(value);
            } else if name.eq_ignore_ascii_case("TARGET") {
                target = value;
            }
        }
        let (kind, max_c) = match heater {
            Some("heater_bed") => ("bed", self.max_bed_c),
            Some(name) if name.starts_with("extruder") => ("hotend", self.max_hotend_c),
            // A chamber or another heater: no cap configured for it.
            _ => return Ok(()),
        };
        match target.parse::<f64>() {
            Ok(requested_c) if requested_c <= max_c => Ok(()),
            // An unparsable target is refused too: Klipper would read it differently.
            parsed => Err(Refusal::TooHot {
                line: line.trim().to_owned(),
                heater: kind,
                requested_c: parsed.unwrap_or(f64::NAN),
                max_c,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> KlipperSafety {
        KlipperSafety::from(&SafetyPolicy::default())
    }

    #[test]
    fn klippers_set_heater_temperature_meets_the_hotend_and_bed_caps() {
        let caps = caps();
        for ok in [
            "SET_HEATER_TEMPERATURE HEATER=extruder TARGET=210",
            "set_heater_temperature heater=heater_bed target=60",
            "SET_HEATER_TEMPERATURE HEATER=extruder1",
            "SET_HEATER_TEMPERATURE HEATER=chamber TARGET=400",
            "TURN_OFF_HEATERS",
        ] {
            assert!(caps.check(ok).is_ok(), "{ok}");
        }
        for refused in [
            "SET_HEATER_TEMPERATURE HEATER=extruder TARGET=900",
            "SET_HEATER_TEMPERATURE TARGET=130 HEATER=\"heater_bed\"",
            "SET_HEATER_TEMPERATURE HEATER=extruder2 TARGET=hot",
        ] {
            assert!(
                matches!(caps.check(refused), Err(Refusal::TooHot { .. })),
                "{refused}"
            );
        }
    }

    #[test]
    fn marlins_commands_keep_the_shared_check() {
        let caps = caps();
        assert!(caps.check("M104 S900").is_err());
        assert!(caps.check("M500").is_err());
        assert!(caps.check("M140 S60").is_ok());
    }
}
