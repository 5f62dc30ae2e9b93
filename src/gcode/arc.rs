//! `G2`/`G3` arcs cut into short chords, as Marlin does before planning them: the centre
//! comes from `I`/`J` (offsets from the start) or from `R` (radius; negative picks the
//! longer arc); `Z` and `E` are spread evenly over the chords (a helix when Z changes).

use std::f64::consts::TAU;

/// Chord length Marlin uses (`MM_PER_ARC_SEGMENT`).
const MM_PER_SEGMENT: f64 = 1.0;
/// Upper bound on chords per arc, so a huge radius cannot stall the analysis.
const MAX_SEGMENTS: usize = 10_000;

/// Why an arc cannot be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArcError {
    #[error("the arc has neither I/J nor R")]
    NoCentre,
    #[error("the arc's radius R is too small to reach its end point")]
    RadiusTooSmall,
}

/// An arc in the XY plane from `start` to `end` (XY only), clockwise for `G2`.
#[derive(Debug, Clone, Copy)]
pub struct Arc {
    pub start: [f64; 2],
    pub end: [f64; 2],
    pub clockwise: bool,
    pub centre: Centre,
}

#[derive(Debug, Clone, Copy)]
pub enum Centre {
    Offset { i: f64, j: f64 },
    Radius(f64),
}

impl Arc {
    /// The XY points of the chords' ends (the last is `end`), each with the fraction of the
    /// arc done there (equal chords: `k / n`).
    pub fn chords(&self) -> Result<impl Iterator<Item = ([f64; 2], f64)> + use<>, ArcError> {
        let centre = self.centre_point()?;
        let radius = (self.start[0] - centre[0]).hypot(self.start[1] - centre[1]);
        let a0 = (self.start[1] - centre[1]).atan2(self.start[0] - centre[0]);
        let a1 = (self.end[1] - centre[1]).atan2(self.end[0] - centre[0]);
        let mut sweep = a1 - a0;
        if self.clockwise {
            if sweep >= -1e-9 {
                sweep -= TAU;
            }
        } else if sweep <= 1e-9 {
            sweep += TAU;
        }
        let length = (sweep * radius).abs();
        let segments = ((length / MM_PER_SEGMENT).floor() as usize).clamp(1, MAX_SEGMENTS);
        let end = self.end;
        Ok((1..=segments).map(move |k| {
            if k == segments {
                return (end, 1.0);
            }
            let done = k as f64 / segments as f64;
            let angle = a0 + sweep * done;
            let point = [
                centre[0] + radius * angle.cos(),
                centre[1] + radius * angle.sin(),
            ];
            (point, done)
        }))
    }

    fn centre_point(&self) -> Result<[f64; 2], ArcError> {
        match self.centre {
            Centre::Offset { i, j } => Ok([self.start[0] + i, self.start[1] + j]),
            Centre::Radius(r) => self.centre_from_radius(r),
        }
    }

    /// The centre on the side of the chord that gives the short arc (long for `R` < 0).
    fn centre_from_radius(&self, r: f64) -> Result<[f64; 2], ArcError> {
        let dx = self.end[0] - self.start[0];
        let dy = self.end[1] - self.start[1];
        let chord = dx.hypot(dy);
        let half = chord / 2.0;
        if chord == 0.0 || r.abs() < half - 1e-6 {
            return Err(ArcError::RadiusTooSmall);
        }
        let h = (r * r - half * half).max(0.0).sqrt();
        let mid = [self.start[0] + dx / 2.0, self.start[1] + dy / 2.0];
        // Unit normal to the chord, to the left of the direction of travel.
        let normal = [-dy / chord, dx / chord];
        // Clockwise short arcs have their centre on the right; a negative R flips it.
        let side = if self.clockwise == (r > 0.0) {
            -1.0
        } else {
            1.0
        };
        Ok([mid[0] + side * h * normal[0], mid[1] + side * h * normal[1]])
    }
}
