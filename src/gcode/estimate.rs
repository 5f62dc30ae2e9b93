//! The estimate a job gets when its file arrives: for G-code, our analysis (with the
//! slicer's own figure and thumbnail alongside); for an STL, a quick estimate from the
//! mesh's volume and surface under the quality preset's assumptions (below). Both say
//! whether the model fits the printer, naming the sizes when it does not.

use std::path::Path;

use super::analysis::{self, Analysis, AnalysisError, DoesNotFit, LinesRead, analyse_file};
use super::limits::MachineLimits;
use super::materials::{Material, Materials, MaterialsError};
use super::project::{self, ProjectError};
use super::stl::{self, StlError};
use super::thumbnails::Thumbnail;
use crate::config::BuildVolume;
use crate::files::FileKind;

/// Print quality presets. The STL estimate assumes, per preset:
///
/// | preset   | layer  | infill | volumetric flow |
/// |----------|--------|--------|-----------------|
/// | draft    | 0.3 mm | 15 %   | 5 mm³/s         |
/// | standard | 0.2 mm | 20 %   | 3.5 mm³/s       |
/// | fine     | 0.1 mm | 20 %   | 2 mm³/s         |
///
/// and, for all, a solid shell `SHELL_MM` thick (two 0.45 mm perimeters; top and bottom
/// layers come to about the same). Extruded volume = shell + infill × the inside; time =
/// extruded volume / flow. The flows are averages over whole prints, travel and slow-downs
/// included (PrusaSlicer's 20 mm test parts average about 4 mm³/s at 0.3 mm layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Draft,
    Standard,
    Fine,
}

/// Shell thickness assumed by the STL estimate (mm).
pub const SHELL_MM: f64 = 0.9;

impl Quality {
    pub fn parse(name: &str) -> Result<Quality, EstimateError> {
        match name.to_ascii_lowercase().as_str() {
            "draft" => Ok(Quality::Draft),
            "standard" | "normal" => Ok(Quality::Standard),
            "fine" => Ok(Quality::Fine),
            _ => Err(EstimateError::UnknownQuality {
                name: name.to_owned(),
            }),
        }
    }

    pub fn layer_height_mm(self) -> f64 {
        match self {
            Quality::Draft => 0.3,
            Quality::Standard => 0.2,
            Quality::Fine => 0.1,
        }
    }

    pub fn infill(self) -> f64 {
        match self {
            Quality::Draft => 0.15,
            Quality::Standard | Quality::Fine => 0.20,
        }
    }

    /// Average volumetric flow in mm³/s.
    pub fn flow_mm3_s(self) -> f64 {
        match self {
            Quality::Draft => 5.0,
            Quality::Standard => 3.5,
            Quality::Fine => 2.0,
        }
    }
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateSource {
    /// Our analysis of the G-code.
    Gcode,
    /// The STL's volume under a quality preset.
    StlVolume,
}

#[derive(Debug, Clone)]
pub struct Estimate {
    pub source: EstimateSource,
    pub estimated_time_s: u64,
    pub filament_mm: f64,
    pub filament_g: f64,
    pub estimated_cost: f64,
    pub model_size_mm: Option<[f64; 3]>,
    /// `Err` names the model's and the printer's sizes.
    pub fits: Result<(), DoesNotFit>,
    /// What the slicer said the print takes (G-code only).
    pub slicer_estimate_s: Option<u64>,
    pub layers: Option<u32>,
    pub thumbnail: Option<Thumbnail>,
}

#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error(transparent)]
    Material(#[from] MaterialsError),
    #[error("unknown quality {name:?}: use draft, standard or fine")]
    UnknownQuality { name: String },
    #[error(transparent)]
    Gcode(#[from] AnalysisError),
    #[error(transparent)]
    Stl(#[from] StlError),
    /// A sliced project's plate could not be read (or is not in it).
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(
        "no estimate for {} files: this gateway estimates G-code, sliced projects and STL",
        .0.as_str()
    )]
    Unsupported(FileKind),
}

/// The analysis of plate `plate` (`None`: the first) of the sliced project at `path`: its
/// G-code inflated as it is read. Blocking.
pub fn analyse_plate(
    path: &Path,
    plate: Option<u32>,
    material: &Material,
) -> Result<Analysis, EstimateError> {
    let (plate, gcode) = project::open_plate(path, plate)?;
    analysis::analyse(gcode, plate.size, &MachineLimits::default(), material).map_err(|source| {
        EstimateError::Gcode(AnalysisError::Io {
            path: path.to_owned(),
            source,
        })
    })
}

/// The estimate both doors answer: the built-in material table, checked against the first of
/// `volumes` (callers pass the chosen printer's, or every printer's, build volume). A sliced
/// project is estimated on its plate `plate` (`None`: its first); other kinds take no plate.
pub fn for_printers(
    path: &Path,
    kind: FileKind,
    plate: Option<u32>,
    material: &str,
    quality: Quality,
    volumes: &[BuildVolume],
) -> Result<Estimate, EstimateError> {
    let volume = first_volume(volumes);
    // A `.gcode.3mf` arrives as a 3MF; its sliced plate makes it a project (`files::refine`).
    let sliced = kind == FileKind::ThreeMf && matches!(project::plate_of(path), Ok(Some(_)));
    if sliced || kind == FileKind::SlicedProject {
        let materials = Materials::default();
        let analysis = analyse_plate(path, plate, materials.get(material)?)?;
        return Ok(of_gcode(analysis, &volume));
    }
    for_file(
        path,
        kind,
        material,
        quality,
        &Materials::default(),
        &volume,
    )
}

/// [`for_printers`] for G-code an upload's pass has already read as it arrived
/// (`gcode::along`): the same estimate without reading the file again. `None` when the pass
/// cannot give the analysis of the whole file (the caller then uses [`for_printers`]).
pub fn for_printers_read(
    read: LinesRead,
    material: &str,
    volumes: &[BuildVolume],
) -> Result<Option<Estimate>, EstimateError> {
    let materials = Materials::default();
    let material = materials.get(material)?;
    let volume = first_volume(volumes);
    Ok(read
        .finish(material)
        .map(|analysis| of_gcode(analysis, &volume)))
}

/// The volume [`for_printers`] judges `fits` against: the first of `volumes`, or any size
/// when there is none.
fn first_volume(volumes: &[BuildVolume]) -> BuildVolume {
    let any = BuildVolume {
        x_mm: f64::MAX,
        y_mm: f64::MAX,
        z_mm: f64::MAX,
    };
    volumes.first().copied().unwrap_or(any)
}

/// Estimates the print of the file at `path` of `kind` in `material` (a name in
/// `materials`) at `quality` (used for STL), on a printer of `build_volume`. G-code is
/// analysed with the default machine limits, overridden by its own `M201`–`M205` lines.
pub fn for_file(
    path: &Path,
    kind: FileKind,
    material: &str,
    quality: Quality,
    materials: &Materials,
    build_volume: &BuildVolume,
) -> Result<Estimate, EstimateError> {
    let material = materials.get(material)?;
    match kind {
        FileKind::GcodeText => {
            let analysis = analyse_file(path, &MachineLimits::default(), material)?;
            Ok(of_gcode(analysis, build_volume))
        }
        FileKind::SlicedProject => Ok(of_gcode(analyse_plate(path, None, material)?, build_volume)),
        FileKind::Stl => {
            let report = stl::analyse(path)?;
            let extruded = extruded_volume_mm3(report.volume_mm3, report.surface_mm2, quality);
            let filament_g = material.grams_of_volume(extruded);
            let size = report.size_mm();
            Ok(Estimate {
                source: EstimateSource::StlVolume,
                estimated_time_s: (extruded / quality.flow_mm3_s()).round() as u64,
                filament_mm: material.length_of_volume(extruded),
                filament_g,
                estimated_cost: material.cost(filament_g),
                model_size_mm: Some(size),
                fits: DoesNotFit::check(Some(size), build_volume),
                slicer_estimate_s: None,
                layers: Some((size[2] / quality.layer_height_mm()).ceil() as u32),
                thumbnail: None,
            })
        }
        FileKind::BinaryGcode | FileKind::ThreeMf => Err(EstimateError::Unsupported(kind)),
    }
}

fn of_gcode(analysis: Analysis, build_volume: &BuildVolume) -> Estimate {
    Estimate {
        source: EstimateSource::Gcode,
        estimated_time_s: analysis.estimated_time_s.round() as u64,
        filament_mm: analysis.filament_total_mm(),
        filament_g: analysis.filament_g,
        estimated_cost: analysis.cost,
        model_size_mm: analysis.model_size_mm(),
        fits: analysis.fits(build_volume),
        slicer_estimate_s: analysis.slicer.time_s(),
        layers: Some(analysis.layers),
        thumbnail: analysis.thumbnail,
    }
}

/// Shell (surface × `SHELL_MM`, at most the whole volume) plus infill of the inside.
pub fn extruded_volume_mm3(volume_mm3: f64, surface_mm2: f64, quality: Quality) -> f64 {
    let shell = (surface_mm2 * SHELL_MM).min(volume_mm3);
    shell + quality.infill() * (volume_mm3 - shell)
}
