//! Temperature reports: `M105` replies and `M155` auto-reports in the dialects seen in the
//! field, parsed tolerantly (unknown tokens are skipped, garbage yields no reading).
//!
//! - Marlin: `T:210.0 /210.0 B:60.0 /60.0 @:127 B@:0`, multi-extruder adds `T0:… T1:…`.
//! - Prusa: `T:210.0 /210.0 B:60.0 /60.0 T0:210.0 /210.0 @:0 B@:0 P:35.0 A:32.0`, and the
//!   wait-loop form `T:209.3 E:0 W:?` where `E:` is the active extruder, not a heater.
//! - Klipper: `ok B:60.0 /60.0 T0:210.0 /210.0`, targets optional.

/// Which heater (or sensor) a reading or an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heater {
    Hotend(u8),
    Bed,
    Chamber,
    /// Prusa's PINDA probe thermistor (`P:`).
    Probe,
    /// Prusa's ambient sensor (`A:`).
    Ambient,
    /// Marlin's redundant hotend sensor (`R:`).
    Redundant,
}

/// One sensor reading: the measured value and, when reported, the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub heater: Heater,
    pub actual: f32,
    pub target: Option<f32>,
}

/// Every reading of one report line, in the order the firmware printed them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Temperatures {
    pub readings: Vec<Reading>,
}

impl Temperatures {
    pub fn get(&self, heater: Heater) -> Option<Reading> {
        self.readings.iter().copied().find(|r| r.heater == heater)
    }

    pub fn hotend(&self, index: u8) -> Option<Reading> {
        self.get(Heater::Hotend(index))
    }

    pub fn bed(&self) -> Option<Reading> {
        self.get(Heater::Bed)
    }

    /// Parses the readings of a report; `None` when the text holds no hotend or bed reading.
    pub fn parse(text: &str) -> Option<Temperatures> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let mut readings = Vec::new();
        let mut active_tool = None;
        let mut i = 0;
        while i < tokens.len() {
            let (key, value) = match tokens[i].split_once(':') {
                Some(pair) => pair,
                None => {
                    i += 1;
                    continue;
                }
            };
            let (actual, mut target) = split_value(value);
            // The target is either glued on (`210/215`) or the next token (`/215`).
            if target.is_none() {
                if let Some(next) = tokens.get(i + 1).and_then(|t| t.strip_prefix('/')) {
                    target = next.parse::<f32>().ok().filter(|t| t.is_finite());
                    i += 1;
                }
            }
            i += 1;
            let Some(actual) = actual else { continue };
            match heater_for_key(key) {
                Some(HeaterKey::ActiveTool) => active_tool = Some((actual, target)),
                Some(HeaterKey::Heater(heater)) => {
                    push_unique(&mut readings, heater, actual, target)
                }
                None => {}
            }
        }
        // `T:` is the active tool; it only stands for hotend 0 when no `Tn:` was reported.
        if let Some((actual, target)) = active_tool {
            if !readings
                .iter()
                .any(|r| matches!(r.heater, Heater::Hotend(_)))
            {
                readings.insert(
                    0,
                    Reading {
                        heater: Heater::Hotend(0),
                        actual,
                        target,
                    },
                );
            }
        }
        let has_main = readings
            .iter()
            .any(|r| matches!(r.heater, Heater::Hotend(_) | Heater::Bed));
        has_main.then_some(Temperatures { readings })
    }
}

enum HeaterKey {
    ActiveTool,
    Heater(Heater),
}

fn heater_for_key(key: &str) -> Option<HeaterKey> {
    let heater = match key {
        "T" => return Some(HeaterKey::ActiveTool),
        "B" => Heater::Bed,
        "C" => Heater::Chamber,
        "P" => Heater::Probe,
        "A" => Heater::Ambient,
        "R" => Heater::Redundant,
        _ => {
            let index = key.strip_prefix('T')?.parse::<u8>().ok()?;
            Heater::Hotend(index)
        }
    };
    Some(HeaterKey::Heater(heater))
}

fn split_value(value: &str) -> (Option<f32>, Option<f32>) {
    let parse = |s: &str| s.parse::<f32>().ok().filter(|v| v.is_finite());
    match value.split_once('/') {
        Some((actual, target)) => (parse(actual), parse(target)),
        None => (parse(value), None),
    }
}

fn push_unique(readings: &mut Vec<Reading>, heater: Heater, actual: f32, target: Option<f32>) {
    if !readings.iter().any(|r| r.heater == heater) {
        readings.push(Reading {
            heater,
            actual,
            target,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(heater: Heater, actual: f32, target: Option<f32>) -> Reading {
        Reading {
            heater,
            actual,
            target,
        }
    }

    #[test]
    fn marlin_report_gives_hotend_and_bed_with_targets_and_skips_power() {
        let t = Temperatures::parse("T:210.0 /210.0 B:60.0 /60.0 @:127 B@:0").unwrap();
        assert_eq!(
            t.readings,
            vec![
                reading(Heater::Hotend(0), 210.0, Some(210.0)),
                reading(Heater::Bed, 60.0, Some(60.0)),
            ]
        );
    }

    #[test]
    fn multi_extruder_report_uses_numbered_tools_over_the_active_tool() {
        let t = Temperatures::parse(
            "T:200.0 /200.0 B:55.0 /55.0 T0:180.5 /0.0 T1:200.0 /200.0 @:0 B@:0 @0:0 @1:64",
        )
        .unwrap();
        assert_eq!(
            t.hotend(0),
            Some(reading(Heater::Hotend(0), 180.5, Some(0.0)))
        );
        assert_eq!(
            t.hotend(1),
            Some(reading(Heater::Hotend(1), 200.0, Some(200.0)))
        );
        assert_eq!(t.bed(), Some(reading(Heater::Bed, 55.0, Some(55.0))));
        assert_eq!(t.readings.len(), 3);
    }

    #[test]
    fn prusa_wait_report_ignores_the_active_extruder_field() {
        let t = Temperatures::parse("T:209.3 E:0 B:59.8").unwrap();
        assert_eq!(t.hotend(0), Some(reading(Heater::Hotend(0), 209.3, None)));
        assert_eq!(t.bed(), Some(reading(Heater::Bed, 59.8, None)));
        let t = Temperatures::parse("T:195.2 E:0 W:?").unwrap();
        assert_eq!(t.readings, vec![reading(Heater::Hotend(0), 195.2, None)]);
    }

    #[test]
    fn prusa_report_includes_probe_and_ambient_sensors() {
        let t = Temperatures::parse("T:21.0 /0.0 B:20.5 /0.0 T0:21.0 /0.0 @:0 B@:0 P:22.1 A:27.9")
            .unwrap();
        assert_eq!(
            t.get(Heater::Probe),
            Some(reading(Heater::Probe, 22.1, None))
        );
        assert_eq!(
            t.get(Heater::Ambient),
            Some(reading(Heater::Ambient, 27.9, None))
        );
    }

    #[test]
    fn klipper_report_with_and_without_targets() {
        let t = Temperatures::parse("B:60.0 /60.0 T0:210.0 /210.0").unwrap();
        assert_eq!(t.bed(), Some(reading(Heater::Bed, 60.0, Some(60.0))));
        assert_eq!(
            t.hotend(0),
            Some(reading(Heater::Hotend(0), 210.0, Some(210.0)))
        );
        let t = Temperatures::parse("B:21.3 T0:22.0").unwrap();
        assert_eq!(t.hotend(0), Some(reading(Heater::Hotend(0), 22.0, None)));
    }

    #[test]
    fn glued_targets_are_accepted() {
        let t = Temperatures::parse("T:210.0/215.0 B:60/65").unwrap();
        assert_eq!(
            t.hotend(0),
            Some(reading(Heater::Hotend(0), 210.0, Some(215.0)))
        );
        assert_eq!(t.bed(), Some(reading(Heater::Bed, 60.0, Some(65.0))));
    }

    #[test]
    fn text_without_hotend_or_bed_is_not_a_report() {
        assert_eq!(Temperatures::parse("echo:busy: processing"), None);
        assert_eq!(Temperatures::parse("T:nan B:inf"), None);
        assert_eq!(Temperatures::parse("P:35.0 A:30.0"), None);
        assert_eq!(Temperatures::parse(""), None);
    }
}
