//! One pass over a G-code file: each line is parsed, executed on the [`Machine`] (planner
//! and tallies), and its comment read for slicer metadata and thumbnails; the result is an
//! [`Analysis`]. Bad lines are counted and skipped, never fatal.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::limits::MachineLimits;
use super::line::{Command, LineError};
use super::machine::{Effect, Machine};
use super::materials::Material;
use super::metadata::SlicerMetadata;
use super::motion::{Motion, Planning, book_done};
use super::progress::{ProgressSampler, ProgressTable};
use super::reader::{self, LineReader};
use super::tally::{Bounds, MAX_TOOLS};
use super::thumbnails::{Thumbnail, ThumbnailFormat, Thumbnails};
use crate::config::BuildVolume;

/// What the analysis found.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Our estimate: motion plus dwells (heat-up waits are not timed).
    pub estimated_time_s: f64,
    pub motion_time_s: f64,
    pub dwell_time_s: f64,
    /// `M109`/`M190`/`M191`/`M116` waits, whose length depends on the printer.
    pub heat_waits: u32,
    /// Net filament per extruder used (index = tool number), mm.
    pub filament_mm: Vec<f64>,
    pub filament_g: f64,
    pub cost: f64,
    pub layers: u32,
    /// Distinct layer heights after the first layer, `(mm, layers)`.
    pub layer_heights: Vec<(f64, u32)>,
    pub first_layer_height_mm: Option<f64>,
    /// Extents of the extruding moves, in the file's coordinates.
    pub bounds: Option<Bounds>,
    pub lines: u64,
    pub bad_lines: u64,
    pub first_bad_line: Option<BadLine>,
    pub slicer: SlicerMetadata,
    /// The embedded thumbnail to show (PNG or JPG, largest within 400 px; see `thumbnails`).
    pub thumbnail: Option<Thumbnail>,
    pub thumbnails_seen: Vec<(ThumbnailFormat, u32, u32)>,
    pub progress: ProgressTable,
}

impl Analysis {
    pub fn filament_total_mm(&self) -> f64 {
        self.filament_mm.iter().sum()
    }

    /// Width, depth and height of what is printed.
    pub fn model_size_mm(&self) -> Option<[f64; 3]> {
        self.bounds.map(|b| b.size())
    }

    /// Whether the print fits `volume`; an empty print fits anywhere.
    pub fn fits(&self, volume: &BuildVolume) -> Result<(), DoesNotFit> {
        DoesNotFit::check(self.model_size_mm(), volume)
    }
}

/// A line that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based.
    pub number: u64,
    pub problem: BadLineProblem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadLineProblem {
    Syntax(LineError),
    Arc(super::ArcError),
    TooLong,
}

/// A model larger than the printer.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "the model is {:.1} x {:.1} x {:.1} mm but the printer's build volume is {:.1} x {:.1} x {:.1} mm",
    size[0], size[1], size[2], volume.x_mm, volume.y_mm, volume.z_mm
)]
pub struct DoesNotFit {
    pub size: [f64; 3],
    pub volume: BuildVolume,
}

impl DoesNotFit {
    /// Allowance for float noise at the edges (slicer output is rounded to µm).
    const TOLERANCE_MM: f64 = 0.01;

    pub fn check(size: Option<[f64; 3]>, volume: &BuildVolume) -> Result<(), DoesNotFit> {
        let Some(size) = size else { return Ok(()) };
        let limits = [volume.x_mm, volume.y_mm, volume.z_mm];
        if size
            .iter()
            .zip(limits)
            .all(|(s, l)| *s <= l + Self::TOLERANCE_MM)
        {
            Ok(())
        } else {
            Err(DoesNotFit {
                size,
                volume: *volume,
            })
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("cannot read the G-code file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Analyses the G-code file at `path`, starting from the printer's `limits`; filament mass
/// and cost use `material`.
pub fn analyse_file(
    path: &Path,
    limits: &MachineLimits,
    material: &Material,
) -> Result<Analysis, AnalysisError> {
    let io = |source| AnalysisError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    analyse(file, total, limits, material).map_err(io)
}

/// [`analyse_file`] on its own thread; join the handle for the result.
pub fn spawn_analysis(
    path: PathBuf,
    limits: MachineLimits,
    material: Material,
) -> std::io::Result<JoinHandle<Result<Analysis, AnalysisError>>> {
    std::thread::Builder::new()
        .name("gcode-analysis".into())
        .spawn(move || analyse_file(&path, &limits, &material))
}

/// Analyses G-code from `source`, `total_bytes` long (used for the progress table's
/// sampling; a wrong value only spaces the samples differently).
pub fn analyse(
    source: impl Read,
    total_bytes: u64,
    limits: &MachineLimits,
    material: &Material,
) -> std::io::Result<Analysis> {
    let read = analyse_lines(source, &[total_bytes], limits)?;
    let total = total_bytes.max(read.pass.last_offset);
    let analysis = read.pass.finish(total_bytes, total, material);
    Ok(analysis.expect("the pass keeps a table for the length it was given"))
}

/// Everything of an [`Analysis`] but the figures that need the material and the file's
/// exact length, for a file whose length is only known within a range when it starts (an
/// upload: the request's length bounds it); see [`analyse_lines`].
pub struct LinesRead {
    pass: Pass,
}

/// Runs the pass over `source` keeping one progress table per possible length in
/// `possible_totals`: the table depends on the length (a sample every hundredth of it), and
/// keeping the few candidates is cheaper than reading the file twice. Only distinct steps
/// are kept, so a range of lengths a few KiB wide costs a few dozen tables.
pub fn analyse_lines(
    source: impl Read,
    possible_totals: &[u64],
    limits: &MachineLimits,
) -> std::io::Result<LinesRead> {
    analyse_lines_planned(
        source,
        possible_totals,
        limits,
        Planning::for_this_machine(),
    )
}

/// [`analyse_lines`] with the moves timed as `planning` says (the figures do not depend on
/// it; tests compare the two).
pub(crate) fn analyse_lines_planned(
    source: impl Read,
    possible_totals: &[u64],
    limits: &MachineLimits,
    planning: Planning,
) -> std::io::Result<LinesRead> {
    let mut pass = Pass::new(*limits, possible_totals, planning);
    let mut reader = LineReader::new(source);
    while let Some(line) = reader.next_line()? {
        pass.line(line.bytes, line.end_offset, line.cut);
    }
    pass.settle()?;
    Ok(LinesRead { pass })
}

impl std::fmt::Debug for LinesRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinesRead")
            .field("bytes", &self.pass.last_offset)
            .finish_non_exhaustive()
    }
}

impl LinesRead {
    /// Bytes read.
    pub fn bytes(&self) -> u64 {
        self.pass.last_offset
    }

    /// Whether [`LinesRead::finish`] can give the analysis (the length read was foreseen).
    pub fn can_finish(&self) -> bool {
        self.pass.sampler.has_table_for(self.pass.last_offset)
    }

    /// The analysis of the whole stream, with mass and cost for `material`: exactly what
    /// [`analyse`] gives for the same bytes. `None` when the length read was not among the
    /// possible ones the pass started with.
    pub fn finish(self, material: &Material) -> Option<Analysis> {
        let total = self.pass.last_offset;
        self.pass.finish(total, total, material)
    }
}

struct Pass {
    machine: Machine,
    /// Every line is parsed into this one (no copy of a command per line).
    command: Command,
    metadata: SlicerMetadata,
    thumbnails: Thumbnails,
    /// A table per possible step (one when the length is known), all fed the same moves.
    sampler: ProgressSampler,
    lines: u64,
    bad_lines: u64,
    first_bad_line: Option<BadLine>,
    last_offset: u64,
    booked_dwell_s: f64,
}

impl Pass {
    fn new(limits: MachineLimits, possible_totals: &[u64], planning: Planning) -> Pass {
        let motion = Motion::start(limits, possible_totals, planning);
        // A relayed planner keeps the tables on its thread until `settle`.
        let sampler = match motion {
            Motion::Here(_) => ProgressSampler::new(possible_totals),
            Motion::Relayed(_) => ProgressSampler::new(&[]),
        };
        Pass {
            machine: Machine::new(motion),
            command: Command::new(),
            metadata: SlicerMetadata::default(),
            thumbnails: Thumbnails::default(),
            sampler,
            lines: 0,
            bad_lines: 0,
            first_bad_line: None,
            last_offset: 0,
            booked_dwell_s: 0.0,
        }
    }

    fn line(&mut self, bytes: &[u8], end_offset: u64, cut: bool) {
        self.lines += 1;
        self.last_offset = end_offset;
        if cut {
            self.bad(BadLineProblem::TooLong);
            return;
        }
        let code_end = reader::find(bytes, b';');
        if let Some(i) = code_end {
            self.comment(&bytes[i + 1..]);
        }
        let code = &bytes[..code_end.unwrap_or(bytes.len())];
        match self.command.read(code) {
            Ok(true) => {
                let command = &self.command;
                if command.letter == b'M' && command.code == 73 {
                    self.metadata.read_m73(command.get(b'R'));
                }
                if let Effect::BadArc(e) = self.machine.execute(command, end_offset) {
                    self.bad(BadLineProblem::Arc(e));
                }
                self.book(end_offset);
            }
            Ok(false) => {}
            Err(e) => self.bad(BadLineProblem::Syntax(e)),
        }
    }

    fn comment(&mut self, comment: &[u8]) {
        let text = comment.trim_ascii_start();
        if self.thumbnails.is_open() || text.starts_with(b"thumbnail") {
            self.thumbnails.read_comment(text);
        } else {
            self.metadata.read_comment(text);
        }
    }

    /// Moves the planner has finished, and new dwell time, into the progress table (a
    /// relayed planner books its moves on its thread, and is told the dwell).
    #[inline(always)]
    fn book(&mut self, offset: u64) {
        let dwell = self.machine.dwell_s - self.booked_dwell_s;
        match &mut self.machine.motion {
            Motion::Here(planner) => {
                book_done(planner, &mut self.sampler);
                if dwell > 0.0 {
                    self.sampler.add(offset, dwell);
                }
            }
            Motion::Relayed(relay) if dwell > 0.0 => relay.dwell(offset, self.machine.dwell_s),
            Motion::Relayed(_) => {}
        }
        if dwell > 0.0 {
            self.booked_dwell_s = self.machine.dwell_s;
        }
    }

    /// Waits for a relayed planner to time every move and takes its tables back; the pass
    /// then finishes as if the planner had run here.
    fn settle(&mut self) -> std::io::Result<()> {
        if let Motion::Relayed(relay) = &mut self.machine.motion {
            let (planner, sampler) = relay.finish()?;
            self.machine.motion = Motion::Here(planner);
            self.sampler = sampler;
        }
        Ok(())
    }

    fn bad(&mut self, problem: BadLineProblem) {
        self.bad_lines += 1;
        if self.first_bad_line.is_none() {
            self.first_bad_line = Some(BadLine {
                number: self.lines,
                problem,
            });
        }
    }

    /// The analysis with the progress table made for `made_for` bytes, ending at
    /// `total_bytes`; `None` when that length's step was not among the foreseen ones.
    fn finish(mut self, made_for: u64, total_bytes: u64, material: &Material) -> Option<Analysis> {
        self.machine.motion.flush();
        self.book(self.last_offset);
        self.thumbnails.finish();
        let tally = &self.machine.tally;
        let filament_mm = tally.filament_mm[..tally.tools_used.min(MAX_TOOLS)].to_vec();
        let filament_g = material.grams(filament_mm.iter().sum());
        let total = self.sampler.elapsed_s();
        let progress = self.sampler.finish(made_for, total_bytes)?;
        Some(Analysis {
            estimated_time_s: total,
            motion_time_s: total - self.machine.dwell_s,
            dwell_time_s: self.machine.dwell_s,
            heat_waits: self.machine.heat_waits,
            filament_g,
            cost: material.cost(filament_g),
            filament_mm,
            layers: tally.layers,
            layer_heights: tally.heights.clone(),
            first_layer_height_mm: tally.first_layer_z,
            bounds: tally.bounds,
            lines: self.lines,
            bad_lines: self.bad_lines,
            first_bad_line: self.first_bad_line,
            slicer: self.metadata,
            thumbnail: self.thumbnails.best.take(),
            thumbnails_seen: std::mem::take(&mut self.thumbnails.seen),
            progress,
        })
    }
}
