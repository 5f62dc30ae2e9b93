//! What a resume after a crash or power cut needs to know about a print, as pure data: the
//! machine's modal state at a point of the file, and the journaled point itself (the last
//! line the firmware confirmed and the layer a resume starts at). The serial driver keeps it
//! up to date while a job prints; the job store journals it; the recovery reads it back.

/// The modal state of a Marlin-style machine at a point of a G-code file: what must be put
/// back before the rest of the file can print as if nothing had happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineState {
    /// `G90` (true) or `G91` for X, Y and Z.
    pub absolute_xyz: bool,
    /// `M82` (true) or `M83` for the extruder (`G90`/`G91` set it too).
    pub absolute_e: bool,
    pub x: f64,
    pub y: f64,
    pub z: f64,
    /// The extruder position the file counts from (what `G92 E` restores).
    pub e: f64,
    /// The last feed rate (`F`, mm/min).
    pub feed_mm_min: f64,
    /// Part-cooling fan, 0–255 (`M106 S`, `M107`).
    pub fan: u8,
    /// Hotend target (°C), from `M104`/`M109`.
    pub hotend_c: f64,
    /// Bed target (°C), from `M140`/`M190`.
    pub bed_c: f64,
    /// The selected tool (`Tn`).
    pub tool: u8,
}

impl Default for MachineState {
    fn default() -> MachineState {
        MachineState {
            absolute_xyz: true,
            absolute_e: true,
            x: 0.0,
            y: 0.0,
            z: 0.0,
            e: 0.0,
            feed_mm_min: 1500.0,
            fan: 0,
            hotend_c: 0.0,
            bed_c: 0.0,
            tool: 0,
        }
    }
}

/// Where a layer of the file starts: its number (1 = the first layer), its first line
/// (0-based line index in the file and the byte offset of that line) and the machine's state
/// just before that line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerStart {
    pub number: u32,
    pub line: u64,
    pub offset: u64,
    /// The layer's print height: the first Z set within the layer (the state's Z until then).
    pub z: f64,
    pub state: MachineState,
}

/// What the journal keeps of a serial job while it prints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumePoint {
    /// The last file line (0-based index) the firmware confirmed with `ok`.
    pub confirmed_line: u64,
    /// The layer that line belongs to (0: before the first layer).
    pub confirmed_layer: u32,
    /// Z after that line: where the nozzle is when the print stops there.
    pub confirmed_z: f64,
    /// The layer a resume starts at by default: the one holding the oldest line the
    /// firmware may have confirmed but not yet executed (its planner depth counted).
    pub layer: LayerStart,
}
