//! Motion model: the G90/G91/M82/M83 modes, the commanded position, and a planner of
//! `planner_depth` moves that run one after another. A move's duration is its length over
//! its feedrate, divided by the speed-up; Marlin answers `ok` once a move is in the planner.

use std::collections::VecDeque;

use super::words::Words;

/// Marlin's feedrate until the first `F` word, mm/min.
const DEFAULT_FEEDRATE_MM_PER_MIN: f64 = 1500.0;
/// Homing speed of the simulated axes, mm/s.
const HOMING_MM_PER_S: f64 = 50.0;
/// Time each homing cycle spends bumping the endstop, ms at real-time speed.
const HOMING_BUMP_MS: f64 = 1000.0;

/// The commanded position (what Marlin calls `current_position`), mm.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub e: f64,
}

#[derive(Debug, Clone)]
pub(super) struct Motion {
    position: Position,
    relative_xyz: bool,
    relative_e: bool,
    feedrate_mm_per_min: f64,
    /// End time of each move in the planner, oldest first.
    planner: VecDeque<u64>,
    depth: usize,
    speed_up: f64,
}

impl Motion {
    pub(super) fn new(depth: usize, speed_up: f64) -> Self {
        Self {
            position: Position::default(),
            relative_xyz: false,
            relative_e: false,
            feedrate_mm_per_min: DEFAULT_FEEDRATE_MM_PER_MIN,
            planner: VecDeque::with_capacity(depth),
            depth,
            speed_up,
        }
    }

    pub(super) fn position(&self) -> Position {
        self.position
    }

    /// `G90` (false) / `G91` (true); `G91` makes E relative too, as in Marlin 2.
    pub(super) fn set_relative(&mut self, relative: bool) {
        self.relative_xyz = relative;
    }

    /// `M82` (false) / `M83` (true).
    pub(super) fn set_relative_e(&mut self, relative: bool) {
        self.relative_e = relative;
    }

    /// `G92`: the named axes take the given values without moving.
    pub(super) fn set_position(&mut self, words: &Words) {
        let p = &mut self.position;
        for (letter, axis) in [
            ('X', &mut p.x),
            ('Y', &mut p.y),
            ('Z', &mut p.z),
            ('E', &mut p.e),
        ] {
            if let Some(v) = words.value(letter) {
                *axis = v;
            }
        }
    }

    /// `G0`/`G1`: updates the position and returns how long the move takes, or `None` for a
    /// move that goes nowhere (Marlin drops those without a planner block).
    pub(super) fn prepare_move(&mut self, words: &Words) -> Option<u64> {
        if let Some(f) = words.value('F').filter(|f| *f > 0.0) {
            self.feedrate_mm_per_min = f;
        }
        let from = self.position;
        let xyz_rel = self.relative_xyz;
        let e_rel = self.relative_xyz || self.relative_e;
        let target = |v: Option<f64>, old: f64, rel: bool| match v {
            Some(v) if rel => old + v,
            Some(v) => v,
            None => old,
        };
        let to = Position {
            x: target(words.value('X'), from.x, xyz_rel),
            y: target(words.value('Y'), from.y, xyz_rel),
            z: target(words.value('Z'), from.z, xyz_rel),
            e: target(words.value('E'), from.e, e_rel),
        };
        self.position = to;
        let (dx, dy, dz) = (to.x - from.x, to.y - from.y, to.z - from.z);
        let mut length = (dx * dx + dy * dy + dz * dz).sqrt();
        if length == 0.0 {
            length = (to.e - from.e).abs();
        }
        (length > 0.0).then(|| self.scaled_ms(length / (self.feedrate_mm_per_min / 60.0) * 1000.0))
    }

    /// `G28`: homes the named axes (all when none is named) and returns how long it takes.
    pub(super) fn home(&mut self, words: &Words) -> u64 {
        let all = !(words.has('X') || words.has('Y') || words.has('Z'));
        let p = &mut self.position;
        let mut farthest: f64 = 0.0;
        for (letter, axis) in [('X', &mut p.x), ('Y', &mut p.y), ('Z', &mut p.z)] {
            if all || words.has(letter) {
                farthest = farthest.max(axis.abs());
                *axis = 0.0;
            }
        }
        self.scaled_ms(farthest / HOMING_MM_PER_S * 1000.0 + HOMING_BUMP_MS)
    }

    /// Real-time milliseconds scaled by the speed-up, rounded up.
    pub(super) fn scaled_ms(&self, real_ms: f64) -> u64 {
        // `as` saturates on absurd values, which is the right clamp here.
        (real_ms / self.speed_up).ceil() as u64
    }

    pub(super) fn has_room(&self) -> bool {
        self.planner.len() < self.depth
    }

    pub(super) fn free_slots(&self) -> usize {
        self.depth - self.planner.len()
    }

    /// Appends a move lasting `duration_ms`; it starts when the previous one ends.
    pub(super) fn plan(&mut self, duration_ms: u64, now: u64) {
        let start = self.planner.back().map_or(now, |end| (*end).max(now));
        self.planner.push_back(start.saturating_add(duration_ms));
    }

    /// Drops the moves that have finished by `now`.
    pub(super) fn retire(&mut self, now: u64) {
        while self.planner.front().is_some_and(|end| *end <= now) {
            self.planner.pop_front();
        }
    }

    /// When the oldest buffered move ends (a slot frees up), if any is buffered.
    pub(super) fn next_slot_at(&self) -> Option<u64> {
        self.planner.front().copied()
    }

    /// When the last buffered move ends (the planner is empty), if any is buffered.
    pub(super) fn idle_at(&self) -> Option<u64> {
        self.planner.back().copied()
    }

    /// `M410` / kill: forget every buffered move.
    pub(super) fn quick_stop(&mut self) {
        self.planner.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_take_length_over_feedrate_and_queue_behind_each_other() {
        let mut motion = Motion::new(2, 1.0);
        let d = motion.prepare_move(&Words::parse("G1 X30 Y40 F600"));
        assert_eq!(d, Some(5000));
        motion.plan(5000, 100);
        motion.plan(1000, 200);
        assert!(!motion.has_room());
        assert_eq!(motion.next_slot_at(), Some(5100));
        assert_eq!(motion.idle_at(), Some(6100));
        motion.retire(5100);
        assert_eq!(motion.free_slots(), 1);
    }

    #[test]
    fn relative_modes_apply_per_axis_and_extrude_only_moves_use_e_length() {
        let mut motion = Motion::new(16, 10.0);
        motion.set_relative_e(true);
        motion.prepare_move(&Words::parse("G1 X10 E1 F6000"));
        motion.prepare_move(&Words::parse("G1 X10 E1"));
        assert_eq!(
            motion.position(),
            Position {
                x: 10.0,
                y: 0.0,
                z: 0.0,
                e: 2.0
            }
        );
        assert_eq!(motion.prepare_move(&Words::parse("G1 E6 F60")), Some(600));
        assert_eq!(motion.prepare_move(&Words::parse("G1 X10")), None);
    }
}
