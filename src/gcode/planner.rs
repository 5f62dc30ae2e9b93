//! Marlin-like motion planner that turns moves into time, modelled on PrusaSlicer's
//! `GCodeProcessor` time estimator so our figures agree with its "normal mode" estimate:
//! each move is a block with a trapezoidal speed profile (accelerate, cruise, decelerate);
//! junction speeds come from the classic per-axis jerk limits; a look-ahead over the queued
//! blocks (a forward and a reverse pass, as the firmware does) lowers entry speeds so every
//! block can stop in time. Blocks are planned in batches and the queue is bounded
//! (`REFRESH_THRESHOLD + QUEUE_SIZE` blocks), so memory stays constant on any file.

use super::kinematics::{
    acceleration, acceleration_distance, axis_jerk, feedrate_factor, intersection_distance, max,
    max_allowable_speed, min, safe_feedrate, speed_from_distance, time_over_distance,
};
use super::limits::MachineLimits;

/// Blocks kept back for look-ahead after each batch (the firmware's planner buffer).
const QUEUE_SIZE: usize = 64;
/// Batch size: the queue is planned once this many blocks are waiting.
const REFRESH_THRESHOLD: usize = QUEUE_SIZE * 4;
const PREVIOUS_FEEDRATE_THRESHOLD: f64 = 0.0001;

/// Axis order in every `[f64; 4]` here.
pub const X: usize = 0;
pub const Y: usize = 1;
pub const Z: usize = 2;
pub const E: usize = 3;

/// What a move does, which picks its acceleration (as PrusaSlicer classifies moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveKind {
    Extrude,
    Travel,
    /// Extruder only: a retraction or de-retraction.
    ExtruderOnly,
}

impl MoveKind {
    pub fn of(delta: &[f64; 4]) -> MoveKind {
        let xyz = delta[X] != 0.0 || delta[Y] != 0.0 || delta[Z] != 0.0;
        let xy = delta[X] != 0.0 || delta[Y] != 0.0;
        match (xyz, delta[E]) {
            (false, _) => MoveKind::ExtruderOnly,
            (true, e) if e > 0.0 && xy => MoveKind::Extrude,
            _ => MoveKind::Travel,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Trapezoid {
    accelerate_until: f64,
    decelerate_after: f64,
    cruise: f64,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    distance: f64,
    acceleration: f64,
    entry: f64,
    cruise: f64,
    max_entry: f64,
    safe_feedrate: f64,
    nominal_length: bool,
    recalculate: bool,
    trapezoid: Trapezoid,
    /// The caller's mark, handed back with the block's time.
    tag: u64,
}

/// Per-move state kept for the next junction.
#[derive(Debug, Clone, Copy, Default)]
struct Junction {
    feedrate: f64,
    safe_feedrate: f64,
    axis_feedrate: [f64; 4],
    direction: [f64; 3],
}

/// The planner: feed moves with [`Planner::push`], read finished time with
/// [`Planner::take_done`], and [`Planner::flush`] at the end or before a dwell.
#[derive(Debug)]
pub struct Planner {
    pub limits: MachineLimits,
    blocks: Vec<Block>,
    prev: Junction,
    done: Vec<(u64, f64)>,
}

impl Planner {
    pub fn new(limits: MachineLimits) -> Planner {
        Planner {
            limits,
            blocks: Vec::with_capacity(REFRESH_THRESHOLD + 1),
            prev: Junction::default(),
            done: Vec::with_capacity(REFRESH_THRESHOLD + 1),
        }
    }

    /// Adds a move of `delta` (mm per axis, of `kind`: [`MoveKind::of`] it, which the caller
    /// has already computed) at `feedrate` (mm/s). `tag` comes back with the block's time
    /// from [`Planner::take_done`] (the analyser uses byte offsets).
    pub fn push(&mut self, delta: [f64; 4], kind: MoveKind, feedrate: f64, tag: u64) {
        let distance = match kind {
            MoveKind::ExtruderOnly => delta[E].abs(),
            _ => (delta[X] * delta[X] + delta[Y] * delta[Y] + delta[Z] * delta[Z]).sqrt(),
        };
        if distance <= 0.0 || !distance.is_finite() {
            return;
        }
        let minimum = match kind {
            MoveKind::Travel => self.limits.min_travel_feedrate,
            _ => self.limits.min_extruding_feedrate,
        };
        let (curr, block) = self.new_block(delta, distance, max(feedrate, minimum), kind, tag);
        self.blocks.push(block);
        self.prev = curr;
        if self.blocks.len() > REFRESH_THRESHOLD {
            self.plan(QUEUE_SIZE);
        }
    }

    /// Plans and finishes every queued block (end of file, `G4`, `M400`).
    pub fn flush(&mut self) {
        self.plan(0);
    }

    /// Whether [`Planner::take_done`] has anything to give.
    #[inline(always)]
    pub fn has_done(&self) -> bool {
        !self.done.is_empty()
    }

    /// `(tag, seconds)` of the blocks finished since the last call.
    pub fn take_done(&mut self) -> std::vec::Drain<'_, (u64, f64)> {
        self.done.drain(..)
    }

    fn new_block(
        &self,
        delta: [f64; 4],
        distance: f64,
        feedrate: f64,
        kind: MoveKind,
        tag: u64,
    ) -> (Junction, Block) {
        let limits = &self.limits;
        let inv = 1.0 / distance;
        // Written out axis by axis: at opt-level "s" array maps and loops stay loops.
        let mut curr = Junction {
            feedrate,
            direction: [delta[X] * inv, delta[Y] * inv, delta[Z] * inv],
            axis_feedrate: [
                feedrate * delta[X] * inv,
                feedrate * delta[Y] * inv,
                feedrate * delta[Z] * inv,
                feedrate * delta[E] * inv,
            ],
            safe_feedrate: 0.0,
        };
        let factor = feedrate_factor(&curr.axis_feedrate, &limits.max_feedrate);
        let cruise = factor * feedrate;
        if factor < 1.0 {
            let v = &mut curr.axis_feedrate;
            *v = [v[X] * factor, v[Y] * factor, v[Z] * factor, v[E] * factor];
        }
        let acceleration = acceleration(limits, kind, &delta, inv);
        curr.safe_feedrate = safe_feedrate(&curr.axis_feedrate, &limits.max_jerk, cruise);
        let vmax_junction = self.junction_speed(&curr, cruise);
        let v_allowable = max_allowable_speed(-acceleration, curr.safe_feedrate, distance);
        let block = Block {
            distance,
            acceleration,
            entry: min(vmax_junction, v_allowable),
            cruise,
            max_entry: vmax_junction,
            safe_feedrate: curr.safe_feedrate,
            nominal_length: cruise <= v_allowable,
            // Planning computes the trapezoid of every block that needs recalculating
            // before its time is taken, so none is computed here.
            recalculate: true,
            trapezoid: Trapezoid::default(),
            tag,
        };
        // The junction remembers the commanded feedrate, not the clamped cruise speed, as
        // PrusaSlicer's estimator does.
        (curr, block)
    }

    /// The highest speed at the junction with the previous block that keeps every axis's
    /// speed change within its jerk limit (Marlin's classic jerk, as PrusaSlicer models it).
    #[inline(always)]
    fn junction_speed(&self, curr: &Junction, cruise: f64) -> f64 {
        let prev = &self.prev;
        if self.blocks.is_empty() || prev.feedrate <= PREVIOUS_FEEDRATE_THRESHOLD {
            return curr.safe_feedrate;
        }
        let prev_larger = prev.feedrate > cruise;
        let smaller_factor = if prev_larger {
            cruise / prev.feedrate
        } else {
            prev.feedrate / cruise
        };
        let mut vmax = if prev_larger { cruise } else { prev.feedrate };
        let mut v_factor = 1.0;
        let mut limited = false;
        let exit_scale = if prev_larger { smaller_factor } else { 1.0 };
        // Axis by axis, no closure or array loop: both stay calls at opt-level "z".
        let exit = [
            prev.feedrate * prev.direction[X] * exit_scale,
            prev.feedrate * prev.direction[Y] * exit_scale,
            prev.feedrate * prev.direction[Z] * exit_scale,
        ];
        let mut jerk = [
            (cruise * curr.direction[X] - exit[X]).abs(),
            (cruise * curr.direction[Y] - exit[Y]).abs(),
            (cruise * curr.direction[Z] - exit[Z]).abs(),
        ];
        let max_jerk = &self.limits.max_jerk;
        limit_jerk(&mut jerk, X, max_jerk[X], &mut v_factor, &mut limited);
        limit_jerk(&mut jerk, Y, max_jerk[Y], &mut v_factor, &mut limited);
        limit_jerk(&mut jerk, Z, max_jerk[Z], &mut v_factor, &mut limited);
        let mut v_exit = prev.axis_feedrate[E] * exit_scale;
        let mut v_entry = curr.axis_feedrate[E];
        if limited {
            v_exit *= v_factor;
            v_entry *= v_factor;
        }
        let e_jerk = axis_jerk(v_exit, v_entry);
        if e_jerk > self.limits.max_jerk[E] {
            v_factor *= self.limits.max_jerk[E] / e_jerk;
            limited = true;
        }
        if limited {
            vmax *= v_factor;
        }
        // Not coasting: the machine stops and starts anyway, so start from the safe speed.
        let threshold = vmax * 0.99;
        if prev.safe_feedrate > threshold && curr.safe_feedrate > threshold {
            vmax = curr.safe_feedrate;
        }
        vmax
    }

    /// Look-ahead over the queue, then books the time of all but the last `keep` blocks.
    fn plan(&mut self, keep: usize) {
        // Pairs by iterator, not by index: no bounds checks in these loops.
        let mut blocks = self.blocks.iter_mut();
        if let Some(mut prev) = blocks.next() {
            for curr in blocks {
                forward_pass(prev, curr);
                prev = curr;
            }
        }
        let mut blocks = self.blocks.iter_mut().rev();
        if let Some(mut next) = blocks.next() {
            for curr in blocks {
                reverse_pass(curr, next);
                next = curr;
            }
        }
        recalculate_trapezoids(&mut self.blocks);
        let n = self.blocks.len();
        let finished = n.saturating_sub(keep);
        for block in self.blocks.drain(..finished) {
            self.done.push((block.tag, block_time(&block)));
        }
    }
}

/// One axis of the jerk limit in [`Planner::junction_speed`]: an axis over its limit lowers
/// the factor and every axis's jerk with it.
#[inline(always)]
fn limit_jerk(jerk: &mut [f64; 3], axis: usize, max: f64, v_factor: &mut f64, limited: &mut bool) {
    if jerk[axis] > max {
        *v_factor *= max / jerk[axis];
        *jerk = [
            jerk[X] * *v_factor,
            jerk[Y] * *v_factor,
            jerk[Z] * *v_factor,
        ];
        *limited = true;
    }
}

#[inline(always)]
fn forward_pass(prev: &Block, curr: &mut Block) {
    if !prev.nominal_length && prev.entry < curr.entry {
        let entry = min(
            curr.entry,
            max_allowable_speed(-prev.acceleration, prev.entry, prev.distance),
        );
        if curr.entry != entry {
            curr.entry = entry;
            curr.recalculate = true;
        }
    }
}

#[inline(always)]
fn reverse_pass(curr: &mut Block, next: &Block) {
    if curr.entry != curr.max_entry {
        curr.entry = if !curr.nominal_length && curr.max_entry > next.entry {
            min(
                curr.max_entry,
                max_allowable_speed(-curr.acceleration, next.entry, curr.distance),
            )
        } else {
            curr.max_entry
        };
        curr.recalculate = true;
    }
}

fn recalculate_trapezoids(blocks: &mut [Block]) {
    let mut pairs = blocks.iter_mut();
    if let Some(mut curr) = pairs.next() {
        for next in pairs {
            if curr.recalculate || next.recalculate {
                curr.trapezoid = trapezoid(curr, next.entry);
                curr.recalculate = false;
            }
            curr = next;
        }
    }
    if let Some(last) = blocks.last_mut() {
        last.trapezoid = trapezoid(last, last.safe_feedrate);
        last.recalculate = false;
    }
}

#[inline(always)]
fn trapezoid(block: &Block, exit: f64) -> Trapezoid {
    let a = block.acceleration;
    let mut accelerate = max(acceleration_distance(block.entry, block.cruise, a), 0.0);
    let decelerate = max(acceleration_distance(block.cruise, exit, -a), 0.0);
    let mut cruise_distance = block.distance - accelerate - decelerate;
    let mut cruise = block.cruise;
    if cruise_distance < 0.0 {
        accelerate =
            intersection_distance(block.entry, exit, a, block.distance).clamp(0.0, block.distance);
        cruise_distance = 0.0;
        cruise = speed_from_distance(block.entry, accelerate, a);
    }
    Trapezoid {
        accelerate_until: accelerate,
        decelerate_after: accelerate + cruise_distance,
        cruise,
    }
}

#[inline(always)]
fn block_time(block: &Block) -> f64 {
    let t = &block.trapezoid;
    let a = block.acceleration;
    let accelerating = time_over_distance(block.entry, t.accelerate_until, a);
    let cruising = if t.cruise != 0.0 {
        (t.decelerate_after - t.accelerate_until) / t.cruise
    } else {
        0.0
    };
    let decelerating = time_over_distance(t.cruise, block.distance - t.decelerate_after, -a);
    accelerating + cruising + decelerating
}
