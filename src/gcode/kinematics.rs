//! Constant-acceleration kinematics the planner's trapezoids are made of: speeds reachable
//! over a distance, distances to reach a speed, and time over a distance. Pure.

pub fn max_allowable_speed(acceleration: f64, target: f64, distance: f64) -> f64 {
    (target * target - 2.0 * acceleration * distance)
        .max(0.0)
        .sqrt()
}

pub fn acceleration_distance(initial: f64, target: f64, acceleration: f64) -> f64 {
    if acceleration == 0.0 {
        0.0
    } else {
        (target * target - initial * initial) / (2.0 * acceleration)
    }
}

pub fn intersection_distance(initial: f64, last: f64, acceleration: f64, distance: f64) -> f64 {
    if acceleration == 0.0 {
        0.0
    } else {
        (2.0 * acceleration * distance - initial * initial + last * last) / (4.0 * acceleration)
    }
}

pub fn speed_from_distance(initial: f64, distance: f64, acceleration: f64) -> f64 {
    (initial * initial + 2.0 * acceleration * distance)
        .max(0.0)
        .sqrt()
}

pub fn time_over_distance(initial: f64, distance: f64, acceleration: f64) -> f64 {
    if acceleration == 0.0 {
        0.0
    } else {
        (speed_from_distance(initial, distance, acceleration) - initial) / acceleration
    }
}
