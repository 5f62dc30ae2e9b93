//! The printer as the G-code sees it: positions, absolute/relative modes (`G90`/`G91`,
//! `M82`/`M83`), `G92`, units, the active tool, firmware retraction (`G10`/`G11` with
//! `M207`/`M208`), arcs, dwells and heat-up waits. Each command becomes moves for the
//! [`Planner`] and counts for the [`Tally`] (filament, layers, extents). Sans-IO: lines
//! come in, nothing is read here.

use super::arc::{Arc, ArcError, Centre};
use super::line::Command;
use super::motion::Motion;
use super::planner::{E, MoveKind, X, Y, Z};
use super::tally::Tally;

/// Marlin's power-on feedrate (1500 mm/min) for moves before the first `F`.
const DEFAULT_FEEDRATE: f64 = 25.0;
/// Marlin's `FWRETRACT` defaults: 3 mm at 45 mm/s, recovered at 8 mm/s.
const DEFAULT_RETRACT: Retraction = Retraction {
    length: 3.0,
    feedrate: 45.0,
    extra_recover: 0.0,
    recover_feedrate: 8.0,
};

#[derive(Debug, Clone, Copy)]
struct Retraction {
    length: f64,
    feedrate: f64,
    extra_recover: f64,
    recover_feedrate: f64,
}

/// What a command did that the caller should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    BadArc(ArcError),
}

#[derive(Debug)]
pub struct Machine {
    /// Where the moves are timed: the planner here or on its own thread.
    pub motion: Motion,
    pub tally: Tally,
    position: [f64; 4],
    relative_xyz: bool,
    relative_e: bool,
    /// mm per unit: 1 (`G21`) or 25.4 (`G20`).
    unit: f64,
    feedrate: f64,
    /// `(F word, unit)` the current feedrate was computed from: slicers repeat the same `F`
    /// on line after line, and the same inputs give the same quotient without dividing.
    feedrate_from: (f64, f64),
    tool: usize,
    retraction: Retraction,
    retracted: bool,
    /// Seconds of `G4` dwell, counted into the time separately from motion.
    pub dwell_s: f64,
    pub heat_waits: u32,
}

impl Machine {
    pub fn new(motion: Motion) -> Machine {
        Machine {
            motion,
            tally: Tally::default(),
            position: [0.0; 4],
            relative_xyz: false,
            relative_e: false,
            unit: 1.0,
            feedrate: DEFAULT_FEEDRATE,
            feedrate_from: (f64::NAN, f64::NAN),
            tool: 0,
            retraction: DEFAULT_RETRACT,
            retracted: false,
            dwell_s: 0.0,
            heat_waits: 0,
        }
    }

    /// Executes one command; `tag` marks the moves it makes (the line's end offset).
    pub fn execute(&mut self, command: &Command, tag: u64) -> Effect {
        match (command.letter, command.code) {
            (b'G', 0 | 1) => self.linear(command, tag),
            (b'G', 2 | 3) => return self.arc(command, tag),
            (b'G', 4) => self.dwell(command),
            (b'G', 10) => self.firmware_retract(true, tag),
            (b'G', 11) => self.firmware_retract(false, tag),
            (b'G', 20) => self.unit = 25.4,
            (b'G', 21) => self.unit = 1.0,
            (b'G', 28) => self.home(command, tag),
            (b'G', 90) => (self.relative_xyz, self.relative_e) = (false, false),
            (b'G', 91) => (self.relative_xyz, self.relative_e) = (true, true),
            (b'G', 92) => self.set_position(command),
            (b'M', 82) => self.relative_e = false,
            (b'M', 83) => self.relative_e = true,
            (b'M', 109 | 190 | 191 | 116) => {
                self.motion.flush();
                self.heat_waits += 1;
            }
            (b'M', 400) => self.motion.flush(),
            (b'M', 207) => self.set_retraction(command, false),
            (b'M', 208) => self.set_retraction(command, true),
            (b'T', tool) => self.tool = usize::from(tool),
            _ => {
                self.motion.apply_limits(command);
            }
        }
        Effect::None
    }

    /// The target of a move, axis by axis, in mm, honouring the positioning modes. As with
    /// [`Command::get`], the first word of an axis counts, and a bare letter (`NaN`) leaves
    /// that axis where it is. Absent axes cost one bit test (this runs for every move).
    #[inline(always)]
    fn target(&self, command: &Command) -> [f64; 4] {
        let p = &self.position;
        let (xyz, e) = (self.relative_xyz, self.relative_e);
        [
            self.coordinate(command.get(b'X'), p[X], xyz),
            self.coordinate(command.get(b'Y'), p[Y], xyz),
            self.coordinate(command.get(b'Z'), p[Z], xyz),
            self.coordinate(command.get(b'E'), p[E], e),
        ]
    }

    /// One axis of [`Machine::target`]: where `word` moves it from `current`.
    #[inline(always)]
    fn coordinate(&self, word: Option<f64>, current: f64, relative: bool) -> f64 {
        match word {
            Some(v) if v.is_finite() => {
                let v = v * self.unit;
                if relative { current + v } else { v }
            }
            _ => current,
        }
    }

    #[inline(always)]
    fn take_feedrate(&mut self, command: &Command) {
        if let Some(f) = command.get(b'F')
            && f.is_finite()
            && f > 0.0
            && (f, self.unit) != self.feedrate_from
        {
            self.feedrate = f * self.unit / 60.0;
            self.feedrate_from = (f, self.unit);
        }
    }

    #[inline(always)]
    fn linear(&mut self, command: &Command, tag: u64) {
        self.take_feedrate(command);
        let target = self.target(command);
        self.move_to(target, tag);
    }

    /// `G28`: PrusaSlicer's estimator treats homing as a move to 0 on the named axes (all
    /// when none is named) at the current feedrate; so do we, to agree with it.
    fn home(&mut self, command: &Command, tag: u64) {
        let named = [b'X', b'Y', b'Z'].map(|l| command.has(l));
        let all = !named.iter().any(|&n| n);
        let mut target = self.position;
        for axis in [X, Y, Z] {
            if all || named[axis] {
                target[axis] = 0.0;
            }
        }
        self.move_to(target, tag);
    }

    fn move_to(&mut self, target: [f64; 4], tag: u64) {
        let p = &self.position;
        let delta = [
            target[X] - p[X],
            target[Y] - p[Y],
            target[Z] - p[Z],
            target[E] - p[E],
        ];
        let kind = MoveKind::of(&delta);
        self.tally
            .record_move(&self.position, &target, kind, self.tool);
        self.motion.push(delta, kind, self.feedrate, tag);
        self.position = target;
    }

    fn arc(&mut self, command: &Command, tag: u64) -> Effect {
        self.take_feedrate(command);
        let target = self.target(command);
        let centre = match (command.get(b'I'), command.get(b'J'), command.get(b'R')) {
            (_, _, Some(r)) if r.is_finite() => Centre::Radius(r * self.unit),
            (None, None, _) => return Effect::BadArc(ArcError::NoCentre),
            (i, j, _) => Centre::Offset {
                i: i.filter(|v| v.is_finite()).unwrap_or(0.0) * self.unit,
                j: j.filter(|v| v.is_finite()).unwrap_or(0.0) * self.unit,
            },
        };
        let arc = Arc {
            start: [self.position[X], self.position[Y]],
            end: [target[X], target[Y]],
            clockwise: command.code == 2,
            centre,
        };
        let chords = match arc.chords() {
            Ok(chords) => chords,
            Err(e) => return Effect::BadArc(e),
        };
        let start = self.position;
        for (point, done) in chords {
            let z = start[Z] + (target[Z] - start[Z]) * done;
            let e = start[E] + (target[E] - start[E]) * done;
            self.move_to([point[0], point[1], z, e], tag);
        }
        Effect::None
    }

    fn dwell(&mut self, command: &Command) {
        self.motion.flush();
        let seconds = match (command.get(b'S'), command.get(b'P')) {
            (Some(s), _) if s.is_finite() => s,
            (_, Some(ms)) if ms.is_finite() => ms / 1000.0,
            _ => 0.0,
        };
        self.dwell_s += seconds.max(0.0);
    }

    fn firmware_retract(&mut self, retract: bool, tag: u64) {
        if retract == self.retracted {
            return;
        }
        self.retracted = retract;
        let r = self.retraction;
        let (length, feedrate) = if retract {
            (-r.length, r.feedrate)
        } else {
            (r.length + r.extra_recover, r.recover_feedrate)
        };
        let mut target = self.position;
        target[E] += length;
        let saved = std::mem::replace(&mut self.feedrate, feedrate);
        self.move_to(target, tag);
        self.feedrate = saved;
    }

    /// `M207 S<mm> F<mm/min>` (retract) and `M208 S<extra mm> F<mm/min>` (recover).
    fn set_retraction(&mut self, command: &Command, recover: bool) {
        let r = &mut self.retraction;
        let s = command.get(b'S').filter(|v| v.is_finite() && *v >= 0.0);
        let f = command
            .get(b'F')
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|f| f / 60.0);
        if recover {
            r.extra_recover = s.unwrap_or(r.extra_recover);
            r.recover_feedrate = f.unwrap_or(r.recover_feedrate);
        } else {
            r.length = s.unwrap_or(r.length);
            r.feedrate = f.unwrap_or(r.feedrate);
        }
    }

    /// `G92`: new logical positions for the named axes (all axes when none is named).
    fn set_position(&mut self, command: &Command) {
        let named = [b'X', b'Y', b'Z', b'E'].map(|l| command.get(l).filter(|v| v.is_finite()));
        if named.iter().all(Option::is_none) {
            self.position = [0.0; 4];
            return;
        }
        for (axis, value) in named.into_iter().enumerate() {
            if let Some(v) = value {
                self.position[axis] = v * self.unit;
            }
        }
    }
}
