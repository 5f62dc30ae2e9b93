//! The G-code a resumed print starts with: what puts a printer that lost power (or its host)
//! back where the file expects it, without touching the part on the bed. Heaters to their
//! targets, the nozzle's Z declared with `G92` (Z is never homed: the part is under the
//! nozzle), a lift clear of the part, X and Y homed, tool, extruder mode and position, fan,
//! a prime, the move above the resume point, down to its Z and the feed rate back.

use crate::domain::MachineState;

/// How far the nozzle rises off the part before X and Y are homed and while it travels.
pub const LIFT_MM: f64 = 2.0;
/// Filament pushed through the nozzle at the home position (it oozed while cold).
pub const PRIME_MM: f64 = 5.0;
const Z_FEED: u32 = 600;
const TRAVEL_FEED: u32 = 6000;
const PRIME_FEED: u32 = 300;

/// The lines run before the file continues at a point whose state is `at`. `nozzle_z` is
/// where the nozzle stopped (the Z of the last line the firmware confirmed); `z_offset_mm`
/// is added to every Z the resumed print uses (positive: print higher).
pub fn prologue(at: &MachineState, nozzle_z: f64, z_offset_mm: f64) -> Vec<String> {
    let mut lines = Vec::with_capacity(24);
    let mut push = |line: String| lines.push(line);
    if at.bed_c > 0.0 {
        push(format!("M140 S{}", num(at.bed_c)));
    }
    if at.hotend_c > 0.0 {
        push(format!("M104 S{}", num(at.hotend_c)));
    }
    if at.bed_c > 0.0 {
        push(format!("M190 S{}", num(at.bed_c)));
    }
    if at.hotend_c > 0.0 {
        push(format!("M109 S{}", num(at.hotend_c)));
    }
    // Declaring the nozzle lower than it is makes every later Z land higher by the offset.
    push(format!("G92 Z{}", num(nozzle_z - z_offset_mm)));
    push("G91".into());
    push(format!("G1 Z{} F{Z_FEED}", num(LIFT_MM)));
    push("G90".into());
    push("G28 X Y".into());
    push(format!("T{}", at.tool));
    push("M83".into());
    push(format!("G1 E{} F{PRIME_FEED}", num(PRIME_MM)));
    push(format!("G92 E{}", num(at.e)));
    push(if at.absolute_e { "M82" } else { "M83" }.into());
    push(match at.fan {
        0 => "M107".into(),
        fan => format!("M106 S{fan}"),
    });
    push(format!("G1 X{} Y{} F{TRAVEL_FEED}", num(at.x), num(at.y)));
    push(format!("G1 Z{} F{Z_FEED}", num(at.z)));
    push(format!("G1 F{}", num(at.feed_mm_min)));
    if !at.absolute_xyz {
        push("G91".into());
    }
    lines
}

/// A number as G-code writes it: at most 5 decimals, no trailing zeros.
fn num(value: f64) -> String {
    let text = format!("{value:.5}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prologue_never_homes_z_and_puts_everything_back() {
        let at = MachineState {
            absolute_xyz: true,
            absolute_e: true,
            x: 100.5,
            y: 80.0,
            z: 3.2,
            e: 1234.56789,
            feed_mm_min: 1800.0,
            fan: 255,
            hotend_c: 215.0,
            bed_c: 60.0,
            tool: 0,
        };
        let lines = prologue(&at, 3.4, 0.1);
        assert_eq!(
            lines,
            [
                "M140 S60",
                "M104 S215",
                "M190 S60",
                "M109 S215",
                "G92 Z3.3",
                "G91",
                "G1 Z2 F600",
                "G90",
                "G28 X Y",
                "T0",
                "M83",
                "G1 E5 F300",
                "G92 E1234.56789",
                "M82",
                "M106 S255",
                "G1 X100.5 Y80 F6000",
                "G1 Z3.2 F600",
                "G1 F1800",
            ]
        );
        assert!(!lines.iter().any(|l| l == "G28" || l.contains("G28 Z")));
    }

    #[test]
    fn relative_modes_and_a_cold_printer_are_kept() {
        let at = MachineState {
            absolute_xyz: false,
            absolute_e: false,
            ..MachineState::default()
        };
        let lines = prologue(&at, 0.0, 0.0);
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("M109") || l.starts_with("M190"))
        );
        assert_eq!(lines.last().unwrap(), "G91");
        assert!(lines.contains(&"M107".to_owned()));
        assert_eq!(lines.iter().filter(|l| *l == "M83").count(), 2);
    }
}
