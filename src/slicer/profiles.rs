//! Which PrusaSlicer profiles a job is sliced with, and the command line that composes them.
//!
//! A profiles directory holds `printer.ini` (the machine: G-code flavour, start and end
//! G-code), `quality/<draft|standard|fine>.ini` and `material/<name>.ini` (lowercase names
//! of `config/materials.toml`). They are loaded in that order with repeated `--load`, so a
//! later file overrides an earlier one; the bed comes from the printer's `build_volume`.
//! The repository's `config/profiles` is compiled in and written out at start-up unless
//! `[slicer] profiles_dir` names another directory of the same layout.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::BuildVolume;
use crate::gcode::estimate::Quality;

/// The built-in profiles: (path inside the profiles directory, content).
pub const BUILT_IN: [(&str, &str); 10] = [
    (
        "printer.ini",
        include_str!("../../config/profiles/printer.ini"),
    ),
    (
        "quality/draft.ini",
        include_str!("../../config/profiles/quality/draft.ini"),
    ),
    (
        "quality/standard.ini",
        include_str!("../../config/profiles/quality/standard.ini"),
    ),
    (
        "quality/fine.ini",
        include_str!("../../config/profiles/quality/fine.ini"),
    ),
    (
        "material/pla.ini",
        include_str!("../../config/profiles/material/pla.ini"),
    ),
    (
        "material/petg.ini",
        include_str!("../../config/profiles/material/petg.ini"),
    ),
    (
        "material/abs.ini",
        include_str!("../../config/profiles/material/abs.ini"),
    ),
    (
        "material/asa.ini",
        include_str!("../../config/profiles/material/asa.ini"),
    ),
    (
        "material/tpu.ini",
        include_str!("../../config/profiles/material/tpu.ini"),
    ),
    (
        "material/nylon.ini",
        include_str!("../../config/profiles/material/nylon.ini"),
    ),
];

/// The material a job without one is sliced in.
pub const DEFAULT_MATERIAL: &str = "PLA";

/// Why a job cannot be sliced with the profiles at hand.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no slicer profile for material {name:?}; known: {known}")]
    UnknownMaterial { name: String, known: String },
    #[error("unknown quality {name:?}: use draft, standard or fine")]
    UnknownQuality { name: String },
}

/// A directory of profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles {
    dir: PathBuf,
}

impl Profiles {
    pub fn new(dir: PathBuf) -> Profiles {
        Profiles { dir }
    }

    /// Writes the built-in profiles into `dir` (replacing older copies) and uses them.
    pub fn install_built_in(dir: &Path) -> std::io::Result<Profiles> {
        for (name, text) in BUILT_IN {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
        }
        Ok(Profiles::new(dir.to_path_buf()))
    }

    /// The files to `--load` for `material` and `quality` (job values; `None` = defaults),
    /// in load order.
    pub fn select(
        &self,
        material: Option<&str>,
        quality: Option<&str>,
    ) -> Result<[PathBuf; 3], ProfileError> {
        let quality = match quality {
            None => Quality::Standard,
            Some(name) => Quality::parse(name).map_err(|_| ProfileError::UnknownQuality {
                name: name.to_owned(),
            })?,
        };
        let material = material.unwrap_or(DEFAULT_MATERIAL);
        let file = self
            .dir
            .join("material")
            .join(format!("{}.ini", material.to_ascii_lowercase()));
        // The name becomes a path: only plain names, never `..` or a separator.
        let plain = !material.is_empty()
            && material
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !plain || !file.is_file() {
            return Err(ProfileError::UnknownMaterial {
                name: material.to_owned(),
                known: self.materials().join(", "),
            });
        }
        let quality = self
            .dir
            .join("quality")
            .join(format!("{}.ini", quality_name(quality)));
        Ok([self.dir.join("printer.ini"), quality, file])
    }

    /// The material names this directory has profiles for (file stems, sorted).
    fn materials(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("material"))
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let is_ini = path.extension().is_some_and(|ext| ext == "ini");
                is_ini.then(|| path.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect();
        names.sort();
        names
    }
}

/// The profile file name of a quality preset.
pub fn quality_name(quality: Quality) -> &'static str {
    match quality {
        Quality::Draft => "draft",
        Quality::Standard => "standard",
        Quality::Fine => "fine",
    }
}

/// One slice: what to slice, with what, for which bed, into which file.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRequest {
    pub model: PathBuf,
    pub profiles: [PathBuf; 3],
    pub bed: BuildVolume,
    pub output: PathBuf,
    /// PrusaSlicer's own data directory (kept out of `HOME`, which a service may not have).
    pub datadir: PathBuf,
}

impl SliceRequest {
    /// PrusaSlicer's arguments: headless `--export-gcode`, the profiles in order, the bed
    /// as a rectangle from the origin, the output file, then the model.
    pub fn arguments(&self) -> Vec<OsString> {
        let BuildVolume { x_mm, y_mm, z_mm } = self.bed;
        let mut args: Vec<OsString> = vec!["--datadir".into(), self.datadir.clone().into()];
        args.push("--export-gcode".into());
        for profile in &self.profiles {
            args.push("--load".into());
            args.push(profile.clone().into());
        }
        args.push("--bed-shape".into());
        args.push(format!("0x0,{x_mm}x0,{x_mm}x{y_mm},0x{y_mm}").into());
        args.push("--max-print-height".into());
        args.push(z_mm.to_string().into());
        args.push("--output".into());
        args.push(self.output.clone().into());
        args.push(self.model.clone().into());
        args
    }
}

/// The bed to slice for when the job may go to any of `volumes` (the printers it fits): the
/// smallest extent on each axis, so the centred part lies inside every one of those beds.
pub fn common_bed(volumes: &[BuildVolume]) -> Option<BuildVolume> {
    volumes.iter().copied().reduce(|a, b| BuildVolume {
        x_mm: a.x_mm.min(b.x_mm),
        y_mm: a.y_mm.min(b.y_mm),
        z_mm: a.z_mm.min(b.z_mm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> (tempfile::TempDir, Profiles) {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles::install_built_in(dir.path()).unwrap();
        (dir, profiles)
    }

    fn volume(x: f64, y: f64, z: f64) -> BuildVolume {
        BuildVolume {
            x_mm: x,
            y_mm: y,
            z_mm: z,
        }
    }

    #[test]
    fn every_known_material_and_quality_has_a_built_in_profile() {
        let (dir, profiles) = installed();
        for material in crate::gcode::materials::Materials::default().names() {
            for quality in ["draft", "standard", "normal", "fine"] {
                let files = profiles.select(Some(material), Some(quality)).unwrap();
                assert!(
                    files
                        .iter()
                        .all(|f| f.starts_with(dir.path()) && f.is_file())
                );
            }
        }
    }

    #[test]
    fn profiles_load_printer_then_quality_then_material_with_the_job_defaults() {
        let (dir, profiles) = installed();
        let files = profiles.select(None, None).unwrap();
        let expected = ["printer.ini", "quality/standard.ini", "material/pla.ini"];
        assert_eq!(files, expected.map(|name| dir.path().join(name)));
        let files = profiles.select(Some("petg"), Some("Normal")).unwrap();
        assert_eq!(files[1], dir.path().join("quality/standard.ini"));
        assert_eq!(files[2], dir.path().join("material/petg.ini"));
        let files = profiles.select(Some("Nylon"), Some("draft")).unwrap();
        assert_eq!(files[1], dir.path().join("quality/draft.ini"));
        assert_eq!(files[2], dir.path().join("material/nylon.ini"));
    }

    #[test]
    fn an_unknown_material_names_the_known_ones_and_paths_are_never_materials() {
        let (_dir, profiles) = installed();
        for name in ["PVA", "../printer", "material/pla", ""] {
            let error = profiles.select(Some(name), None).unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "no slicer profile for material {name:?}; known: abs, asa, nylon, petg, pla, tpu"
                )
            );
        }
        let error = profiles.select(None, Some("ultra")).unwrap_err();
        assert!(
            matches!(error, ProfileError::UnknownQuality { .. }),
            "{error}"
        );
    }

    #[test]
    fn arguments_compose_the_profiles_in_order_with_the_bed_output_and_model_last() {
        let request = SliceRequest {
            model: "/files/ab-cube.stl".into(),
            profiles: [
                "/p/printer.ini".into(),
                "/p/quality/fine.ini".into(),
                "/p/material/abs.ini".into(),
            ],
            bed: volume(250.0, 210.5, 200.0),
            output: "/files/.slicing-7.gcode".into(),
            datadir: "/state/slicer/data".into(),
        };
        let args: Vec<String> = request
            .arguments()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "--datadir",
                "/state/slicer/data",
                "--export-gcode",
                "--load",
                "/p/printer.ini",
                "--load",
                "/p/quality/fine.ini",
                "--load",
                "/p/material/abs.ini",
                "--bed-shape",
                "0x0,250x0,250x210.5,0x210.5",
                "--max-print-height",
                "200",
                "--output",
                "/files/.slicing-7.gcode",
                "/files/ab-cube.stl",
            ]
        );
    }

    #[test]
    fn the_common_bed_is_the_smallest_extent_on_each_axis() {
        let bed = common_bed(&[volume(250.0, 210.0, 210.0), volume(220.0, 220.0, 250.0)]);
        assert_eq!(bed, Some(volume(220.0, 210.0, 210.0)));
        assert_eq!(common_bed(&[]), None);
    }
}
