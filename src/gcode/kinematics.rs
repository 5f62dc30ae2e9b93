//! Constant-acceleration kinematics the planner's trapezoids are made of: speeds reachable
//! over a distance, distances to reach a speed, and time over a distance; and the per-axis
//! limits (feedrate, jerk, acceleration) a move is held to. Pure.

use super::limits::MachineLimits;
use super::planner::{E, MoveKind, X, Y, Z};

/// `x.min(y)` as the standard library computes it (IEEE 754 minNum: `y` when equal, the
/// other one when one is NaN), written out: at opt-level "z" `f64::min` is a call to
/// `fmin`, and the analysis makes a dozen per move. Always inlined, as is everything the
/// planner runs per move (an `#[inline]` hint is ignored at "z").
#[inline(always)]
pub fn min(x: f64, y: f64) -> f64 {
    if y.is_nan() || x < y { x } else { y }
}

/// `x.max(y)` as the standard library computes it (IEEE 754 maxNum); see [`min`].
#[inline(always)]
pub fn max(x: f64, y: f64) -> f64 {
    if x.is_nan() || x < y { y } else { x }
}

#[inline(always)]
pub fn max_allowable_speed(acceleration: f64, target: f64, distance: f64) -> f64 {
    max(target * target - 2.0 * acceleration * distance, 0.0).sqrt()
}

#[inline(always)]
pub fn acceleration_distance(initial: f64, target: f64, acceleration: f64) -> f64 {
    if acceleration == 0.0 {
        0.0
    } else {
        (target * target - initial * initial) / (2.0 * acceleration)
    }
}

#[inline(always)]
pub fn intersection_distance(initial: f64, last: f64, acceleration: f64, distance: f64) -> f64 {
    if acceleration == 0.0 {
        0.0
    } else {
        (2.0 * acceleration * distance - initial * initial + last * last) / (4.0 * acceleration)
    }
}

#[inline(always)]
pub fn speed_from_distance(initial: f64, distance: f64, acceleration: f64) -> f64 {
    max(initial * initial + 2.0 * acceleration * distance, 0.0).sqrt()
}

#[inline(always)]
pub fn time_over_distance(initial: f64, distance: f64, acceleration: f64) -> f64 {
    if acceleration == 0.0 {
        0.0
    } else {
        (speed_from_distance(initial, distance, acceleration) - initial) / acceleration
    }
}

/// The factor (at most 1) that keeps every axis within its maximum feedrate (0: no limit).
/// Divides only for an axis over its limit: within it, `max / |v|` is at least 1 and would
/// not lower the factor.
#[inline]
pub fn feedrate_factor(v: &[f64; 4], max: &[f64; 4]) -> f64 {
    let factor = lower_factor(1.0, v[X], max[X]);
    let factor = lower_factor(factor, v[Y], max[Y]);
    let factor = lower_factor(factor, v[Z], max[Z]);
    lower_factor(factor, v[E], max[E])
}

/// One axis of [`feedrate_factor`].
#[inline(always)]
fn lower_factor(factor: f64, v: f64, max: f64) -> f64 {
    let speed = v.abs();
    if max != 0.0 && speed > max {
        let limited = max / speed;
        if limited < factor {
            return limited;
        }
    }
    factor
}

/// The speed the block may start or end at from a standstill: the cruise speed, lowered to
/// the jerk limit of every axis whose own speed exceeds it.
#[inline]
pub fn safe_feedrate(v: &[f64; 4], max_jerk: &[f64; 4], cruise: f64) -> f64 {
    let safe = lower_safe(cruise, v[X], max_jerk[X]);
    let safe = lower_safe(safe, v[Y], max_jerk[Y]);
    let safe = lower_safe(safe, v[Z], max_jerk[Z]);
    lower_safe(safe, v[E], max_jerk[E])
}

/// One axis of [`safe_feedrate`].
#[inline(always)]
fn lower_safe(safe: f64, v: f64, jerk: f64) -> f64 {
    if v.abs() > jerk && jerk < safe {
        jerk
    } else {
        safe
    }
}

/// The move kind's acceleration, lowered so no axis exceeds its own maximum.
#[inline(always)]
pub fn acceleration(limits: &MachineLimits, kind: MoveKind, delta: &[f64; 4], inv: f64) -> f64 {
    let acceleration = match kind {
        MoveKind::Travel => limits.travel_acceleration,
        MoveKind::ExtruderOnly => limits.retract_acceleration,
        MoveKind::Extrude => limits.acceleration,
    };
    let max = &limits.max_acceleration;
    let acceleration = lower_acceleration(acceleration, delta[X], inv, max[X]);
    let acceleration = lower_acceleration(acceleration, delta[Y], inv, max[Y]);
    let acceleration = lower_acceleration(acceleration, delta[Z], inv, max[Z]);
    lower_acceleration(acceleration, delta[E], inv, max[E])
}

/// One axis of [`acceleration`].
#[inline(always)]
fn lower_acceleration(acceleration: f64, d: f64, inv: f64, max: f64) -> f64 {
    let share = d.abs() * inv;
    if acceleration * share > max {
        max / share
    } else {
        acceleration
    }
}

/// The speed change an axis sees: the difference when coasting the same way, the larger
/// of the two speeds when it reverses.
#[inline(always)]
pub fn axis_jerk(v_exit: f64, v_entry: f64) -> f64 {
    if v_exit > v_entry {
        if v_entry > 0.0 || v_exit < 0.0 {
            v_exit - v_entry
        } else {
            max(v_exit, -v_entry)
        }
    } else if v_entry < 0.0 || v_exit > 0.0 {
        v_entry - v_exit
    } else {
        max(-v_exit, v_entry)
    }
}
