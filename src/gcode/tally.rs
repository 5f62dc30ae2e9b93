//! What the moves add up to: filament per extruder, the extents of the extruding moves,
//! the layers (a layer starts where extrusion first happens at a new, higher Z) with the
//! distinct layer heights, and the first layer's height. Fixed-size state only.

use super::kinematics::{max as fmax, min as fmin};
use super::planner::{E, MoveKind, X, Y, Z};

/// Extruders counted; moves on higher tool numbers count on the last one.
pub const MAX_TOOLS: usize = 16;
/// Distinct layer heights kept (a variable-layer-height print may have many).
const MAX_HEIGHTS: usize = 32;
/// Z changes below this are the same layer (float noise in slicer output).
const LAYER_EPSILON: f64 = 1e-4;

/// A box in mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: [f64; 3],
    pub max: [f64; 3],
}

impl Bounds {
    /// Width, depth and height.
    pub fn size(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.max[a] - self.min[a])
    }

    /// Written out axis by axis: this runs for every extruding move.
    #[inline(always)]
    pub fn include(&mut self, [x, y, z]: [f64; 3]) {
        let (min, max) = (&mut self.min, &mut self.max);
        *min = [fmin(min[0], x), fmin(min[1], y), fmin(min[2], z)];
        *max = [fmax(max[0], x), fmax(max[1], y), fmax(max[2], z)];
    }

    pub fn around(point: [f64; 3]) -> Bounds {
        Bounds {
            min: point,
            max: point,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Net filament per extruder in mm (retractions cancel their recoveries).
    pub filament_mm: [f64; MAX_TOOLS],
    pub tools_used: usize,
    pub bounds: Option<Bounds>,
    pub layers: u32,
    pub first_layer_z: Option<f64>,
    top_z: Option<f64>,
    /// `(height, layers)` rounded to 1 µm, at most `MAX_HEIGHTS` entries.
    pub heights: Vec<(f64, u32)>,
    /// The end of the last extruding move, already in `bounds`: a move that starts there
    /// (most do) only adds its end.
    last_end: Option<[f64; 3]>,
}

impl Tally {
    #[inline(always)]
    pub fn record_move(&mut self, from: &[f64; 4], to: &[f64; 4], kind: MoveKind, tool: usize) {
        let tool = tool.min(MAX_TOOLS - 1);
        let e = to[E] - from[E];
        if e != 0.0 {
            self.filament_mm[tool] += e;
            self.tools_used = self.tools_used.max(tool + 1);
        }
        if kind != MoveKind::Extrude {
            return;
        }
        let a = [from[X], from[Y], from[Z]];
        let b = [to[X], to[Y], to[Z]];
        match &mut self.bounds {
            Some(bounds) => {
                let continues = self
                    .last_end
                    .is_some_and(|e| e[0] == a[0] && e[1] == a[1] && e[2] == a[2]);
                if !continues {
                    bounds.include(a);
                }
                bounds.include(b);
            }
            None => {
                let mut bounds = Bounds::around(a);
                bounds.include(b);
                self.bounds = Some(bounds);
            }
        }
        self.last_end = Some(b);
        self.layer_at(to[Z]);
    }

    fn layer_at(&mut self, z: f64) {
        let height = match self.top_z {
            Some(top) if z <= top + LAYER_EPSILON => return,
            Some(top) => z - top,
            None => {
                self.first_layer_z = Some(z);
                z
            }
        };
        self.top_z = Some(z);
        self.layers += 1;
        if self.layers > 1 {
            self.count_height(height);
        }
    }

    fn count_height(&mut self, height: f64) {
        let height = (height * 1000.0).round() / 1000.0;
        if let Some(entry) = self.heights.iter_mut().find(|(h, _)| *h == height) {
            entry.1 += 1;
        } else if self.heights.len() < MAX_HEIGHTS {
            self.heights.push((height, 1));
        }
    }
}
