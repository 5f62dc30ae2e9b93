//! Following a print line by line for a resume after a crash or power cut: the machine's
//! modal state ([`MachineState`]) and where each layer starts. The serial driver feeds it
//! every job line the firmware confirms (so it is never ahead of the printer); a recovery
//! feeds it the file from the start to find a layer the journal did not keep.
//!
//! A layer starts at a slicer's layer marker (`;LAYER_CHANGE` from PrusaSlicer/SuperSlicer/
//! OrcaSlicer, `;LAYER:` from Cura). A file without markers falls back to Z: a move that
//! raises Z above every Z extruded at so far starts a layer (a Z-hop then counts as one, which
//! is still a consistent point to resume at, only not a whole layer).

use std::collections::VecDeque;

use super::line::Command;
use crate::domain::{LayerStart, MachineState, ResumePoint};

/// How many job lines the firmware may have confirmed without having executed them yet:
/// Marlin queues `BUFSIZE` (4) commands and plans `BLOCK_BUFFER_SIZE` (16, 32 on 32-bit
/// boards) moves ahead of the nozzle. A resume goes back to the layer holding the line this
/// many lines before the last confirmed one, so no line that never ran is skipped.
pub const PLANNER_DEPTH: u64 = 36;

/// Layer starts kept to go back over the planner depth (layers shorter than the depth are
/// rare; more than this many in a row only happen in a file of near-empty layers).
const KEPT_LAYERS: usize = 8;

/// The print as confirmed so far.
pub struct Tracker {
    state: MachineState,
    command: Command,
    /// The next line's index and byte offset in the file.
    line: u64,
    offset: u64,
    /// Job commands (lines with a command) confirmed so far.
    commands: u64,
    /// Recent layer starts, oldest first, each with `commands` at its start.
    layers: VecDeque<(LayerStart, u64)>,
    /// Whether the file has layer markers (then Z alone never starts a layer).
    markers: bool,
    /// The highest Z extrusion happened at (for files without markers).
    printed_z: f64,
    /// The current layer's Z is still its start state's (no Z move in it yet).
    layer_z_open: bool,
}

impl Tracker {
    /// A print from the start of its file.
    pub fn new() -> Tracker {
        Tracker::at(0, 0, MachineState::default(), None)
    }

    /// A print resumed at `line` (byte `offset`), with the machine in `state` there and
    /// `layer` the layer that starts there (`None`: not at a layer start).
    pub fn at(line: u64, offset: u64, state: MachineState, layer: Option<LayerStart>) -> Tracker {
        Tracker {
            state,
            command: Command::new(),
            line,
            offset,
            commands: 0,
            layers: layer.map(|l| (l, 0)).into_iter().collect(),
            markers: false,
            printed_z: f64::NEG_INFINITY,
            layer_z_open: layer.is_some(),
        }
    }

    pub fn state(&self) -> &MachineState {
        &self.state
    }

    /// The index of the next line.
    pub fn next_line(&self) -> u64 {
        self.line
    }

    /// The current layer, if one started yet.
    pub fn layer(&self) -> Option<&LayerStart> {
        self.layers.back().map(|(l, _)| l)
    }

    /// Follows one line of the file (without its line break) that took `len` bytes of the
    /// file. Returns true when the line started a layer.
    pub fn feed(&mut self, text: &str, len: u64) -> bool {
        let marker = is_layer_marker(text);
        self.markers |= marker;
        let parsed = matches!(self.command.read(text.as_bytes()), Ok(true));
        let starts = marker || (parsed && !self.markers && self.raises_z());
        if starts {
            let number = self.layer().map_or(1, |l| l.number + 1);
            let start = LayerStart {
                number,
                line: self.line,
                offset: self.offset,
                z: self.state.z,
                state: self.state,
            };
            if self.layers.len() == KEPT_LAYERS {
                self.layers.pop_front();
            }
            self.layers.push_back((start, self.commands));
            self.layer_z_open = true;
        }
        if parsed {
            self.commands += 1;
            let z_before = self.state.z;
            apply(&mut self.state, &self.command);
            self.note_z(z_before);
        }
        self.line += 1;
        self.offset += len;
        starts
    }

    /// What a resume needs now: the last fed line is the last one confirmed.
    pub fn point(&self) -> Option<ResumePoint> {
        let (current, _) = self.layers.back()?;
        // The oldest line that may not have run is `PLANNER_DEPTH` commands back: resume at
        // the latest layer that started at or before it.
        let unsure = self.commands.saturating_sub(PLANNER_DEPTH);
        let layer = (self.layers.iter().rev())
            .find(|(_, at)| *at <= unsure)
            .or(self.layers.front())
            .map(|(l, _)| *l)?;
        Some(ResumePoint {
            confirmed_line: self.line.checked_sub(1)?,
            confirmed_layer: current.number,
            confirmed_z: self.state.z,
            layer,
        })
    }

    fn raises_z(&self) -> bool {
        let c = &self.command;
        let z = match (c.letter, c.code, c.get(b'Z')) {
            (b'G', 0 | 1, Some(z)) if self.state.absolute_xyz => z,
            (b'G', 0 | 1, Some(dz)) => self.state.z + dz,
            _ => return false,
        };
        self.printed_z.is_finite() && z > self.printed_z + 1e-6
    }

    /// After a line: the layer's Z is the first Z set in it; extrusion marks a printed Z.
    fn note_z(&mut self, z_before: f64) {
        let c = &self.command;
        if !(c.letter == b'G' && matches!(c.code, 0..=3)) {
            return;
        }
        if self.layer_z_open && (self.state.z - z_before).abs() > 1e-9 {
            if let Some((layer, _)) = self.layers.back_mut() {
                layer.z = self.state.z;
            }
            self.layer_z_open = false;
        }
        if c.get(b'E')
            .is_some_and(|e| e > 0.0 || !self.state.absolute_e)
        {
            self.printed_z = self.printed_z.max(self.state.z);
        }
    }
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker::new()
    }
}

fn is_layer_marker(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with(";LAYER_CHANGE") || text.starts_with(";LAYER:")
}

/// One command's effect on the modal state (Marlin semantics).
fn apply(state: &mut MachineState, c: &Command) {
    let axis = |value: Option<f64>, current: f64, absolute: bool| match value {
        Some(v) if v.is_finite() && absolute => v,
        Some(v) if v.is_finite() => current + v,
        _ => current,
    };
    match (c.letter, c.code) {
        (b'G', 0..=3) => {
            state.x = axis(c.get(b'X'), state.x, state.absolute_xyz);
            state.y = axis(c.get(b'Y'), state.y, state.absolute_xyz);
            state.z = axis(c.get(b'Z'), state.z, state.absolute_xyz);
            state.e = axis(c.get(b'E'), state.e, state.absolute_e);
            if let Some(f) = c.get(b'F').filter(|f| *f > 0.0) {
                state.feed_mm_min = f;
            }
        }
        (b'G', 28) => {
            let all = !(c.has(b'X') || c.has(b'Y') || c.has(b'Z'));
            if all || c.has(b'X') {
                state.x = 0.0;
            }
            if all || c.has(b'Y') {
                state.y = 0.0;
            }
            if all || c.has(b'Z') {
                state.z = 0.0;
            }
        }
        (b'G', 90) => (state.absolute_xyz, state.absolute_e) = (true, true),
        (b'G', 91) => (state.absolute_xyz, state.absolute_e) = (false, false),
        (b'G', 92) => {
            let set = |v: Option<f64>, current: f64| v.filter(|v| v.is_finite()).unwrap_or(current);
            let none = c.words().is_empty();
            state.x = set(c.get(b'X'), state.x);
            state.y = set(c.get(b'Y'), state.y);
            state.z = set(c.get(b'Z'), state.z);
            state.e = if none { 0.0 } else { set(c.get(b'E'), state.e) };
        }
        (b'M', 82) => state.absolute_e = true,
        (b'M', 83) => state.absolute_e = false,
        (b'M', 104 | 109) if c.get(b'T').is_none_or(|t| t == f64::from(state.tool)) => {
            if let Some(s) = c.get(b'S').or_else(|| c.get(b'R')) {
                state.hotend_c = s;
            }
        }
        (b'M', 140 | 190) => {
            if let Some(s) = c.get(b'S').or_else(|| c.get(b'R')) {
                state.bed_c = s;
            }
        }
        (b'M', 106) => {
            let s = c.get(b'S').filter(|s| s.is_finite()).unwrap_or(255.0);
            state.fan = s.clamp(0.0, 255.0).round() as u8;
        }
        (b'M', 107) => state.fan = 0,
        (b'T', tool) => state.tool = tool.min(u16::from(u8::MAX)) as u8,
        _ => {}
    }
}

/// The start of layer `number` in a file read from the beginning (`None`: the file has
/// fewer layers). Reads line by line; run it off the async runtime.
pub fn find_layer(path: &std::path::Path, number: u32) -> std::io::Result<Option<LayerStart>> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut tracker = Tracker::new();
    let mut raw = Vec::new();
    let mut found: Option<LayerStart> = None;
    loop {
        raw.clear();
        let n = reader.read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Ok(found);
        }
        let text = String::from_utf8_lossy(&raw);
        tracker.feed(text.trim_end_matches(['\n', '\r']), n as u64);
        match tracker.layer() {
            // Copied on every line of the layer: its Z is known after its first Z move.
            Some(layer) if layer.number == number => found = Some(*layer),
            Some(layer) if layer.number > number => return Ok(found),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
