//! The machine's motion limits the planner obeys, with Marlin 2 defaults (a Prusa MK3S's
//! firmware values) and the `M201`/`M203`/`M204`/`M205` commands that change them. The
//! caller may start from a printer's own limits; commands in the file then override them,
//! as they would on the printer.

use super::line::Command;
use super::planner::{E, X, Y, Z};

/// Limits in mm, mm/s and mm/s², axis order X, Y, Z, E.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineLimits {
    pub max_feedrate: [f64; 4],
    pub max_acceleration: [f64; 4],
    pub max_jerk: [f64; 4],
    /// Printing moves (`M204 P`).
    pub acceleration: f64,
    /// Extruder-only moves (`M204 R`).
    pub retract_acceleration: f64,
    /// Moves that do not extrude (`M204 T`).
    pub travel_acceleration: f64,
    /// The firmware's caps on `M204` values (0: none).
    pub max_acceleration_extruding: f64,
    pub max_acceleration_travel: f64,
    /// `M205 S` and `M205 T`.
    pub min_extruding_feedrate: f64,
    pub min_travel_feedrate: f64,
}

impl Default for MachineLimits {
    fn default() -> Self {
        MachineLimits {
            max_feedrate: [200.0, 200.0, 12.0, 120.0],
            max_acceleration: [1000.0, 1000.0, 200.0, 5000.0],
            max_jerk: [8.0, 8.0, 0.4, 4.5],
            acceleration: 1250.0,
            retract_acceleration: 1250.0,
            travel_acceleration: 1250.0,
            max_acceleration_extruding: 0.0,
            max_acceleration_travel: 0.0,
            min_extruding_feedrate: 0.0,
            min_travel_feedrate: 0.0,
        }
    }
}

const AXES: [(u8, usize); 4] = [(b'X', X), (b'Y', Y), (b'Z', Z), (b'E', E)];

impl MachineLimits {
    /// Applies `M201`, `M203`, `M204` or `M205`; other commands are ignored. Returns
    /// whether the command was one of these.
    pub fn apply(&mut self, command: &Command) -> bool {
        if command.letter != b'M' {
            return false;
        }
        match command.code {
            201 => set_axes(&mut self.max_acceleration, command),
            203 => set_axes(&mut self.max_feedrate, command),
            204 => self.apply_m204(command),
            205 => {
                set_axes(&mut self.max_jerk, command);
                if let Some(s) = positive(command, b'S') {
                    self.min_extruding_feedrate = s;
                }
                if let Some(t) = positive(command, b'T') {
                    self.min_travel_feedrate = t;
                }
            }
            _ => return false,
        }
        true
    }

    /// `M204 S` (legacy) sets printing and travel acceleration; `P`/`R`/`T` set printing,
    /// retraction and travel acceleration (upstream Marlin).
    fn apply_m204(&mut self, command: &Command) {
        if let Some(s) = positive(command, b'S') {
            self.acceleration = cap(s, self.max_acceleration_extruding);
            self.travel_acceleration = cap(s, self.max_acceleration_travel);
            if let Some(t) = positive(command, b'T') {
                self.retract_acceleration = t;
            }
            return;
        }
        if let Some(p) = positive(command, b'P') {
            self.acceleration = cap(p, self.max_acceleration_extruding);
        }
        if let Some(r) = positive(command, b'R') {
            self.retract_acceleration = r;
        }
        if let Some(t) = positive(command, b'T') {
            self.travel_acceleration = cap(t, self.max_acceleration_travel);
        }
    }
}

fn set_axes(target: &mut [f64; 4], command: &Command) {
    for (letter, axis) in AXES {
        if let Some(v) = positive(command, letter) {
            target[axis] = v;
        }
    }
}

/// A finite, non-negative value of word `letter` (anything else is ignored, as firmware
/// ignores nonsense limits).
fn positive(command: &Command, letter: u8) -> Option<f64> {
    command.get(letter).filter(|v| v.is_finite() && *v >= 0.0)
}

fn cap(value: f64, max: f64) -> f64 {
    if max > 0.0 { value.min(max) } else { value }
}
