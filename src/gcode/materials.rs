//! Filament materials: density, price and diameter, which turn filament length into mass
//! and cost. The defaults (PLA, PETG, ABS, ASA, TPU, Nylon) are `config/materials.toml`,
//! compiled in; a gateway may load its own table in the same format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{File, FileFormat};
use serde::Deserialize;

/// The shipped table, also the built-in default.
const DEFAULT_TABLE: &str = include_str!("../../config/materials.toml");

/// One filament material.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    #[serde(skip)]
    pub name: String,
    pub density_g_cm3: f64,
    pub price_per_kg: f64,
    pub diameter_mm: f64,
}

impl Material {
    /// Grams of `length_mm` of this filament.
    pub fn grams(&self, length_mm: f64) -> f64 {
        let radius = self.diameter_mm / 2.0;
        let volume_mm3 = std::f64::consts::PI * radius * radius * length_mm;
        volume_mm3 / 1000.0 * self.density_g_cm3
    }

    /// Grams of `volume_mm3` of this material.
    pub fn grams_of_volume(&self, volume_mm3: f64) -> f64 {
        volume_mm3 / 1000.0 * self.density_g_cm3
    }

    /// Filament length in mm holding `volume_mm3`.
    pub fn length_of_volume(&self, volume_mm3: f64) -> f64 {
        let radius = self.diameter_mm / 2.0;
        volume_mm3 / (std::f64::consts::PI * radius * radius)
    }

    /// Cost of `grams` of this material.
    pub fn cost(&self, grams: f64) -> f64 {
        grams / 1000.0 * self.price_per_kg
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaterialsError {
    #[error("cannot read the materials file {path}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the materials table is not valid")]
    Syntax(#[source] config::ConfigError),
    #[error("material {name}: {field} must be a positive number")]
    NotPositive { name: String, field: &'static str },
    #[error("unknown material {name:?}; known: {known}")]
    Unknown { name: String, known: String },
}

/// The material table, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Materials {
    by_name: BTreeMap<String, Material>,
}

impl Default for Materials {
    fn default() -> Self {
        Materials::parse(DEFAULT_TABLE).expect("the built-in materials table is valid")
    }
}

impl Materials {
    pub fn load(path: &Path) -> Result<Materials, MaterialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| MaterialsError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Materials::parse(&text)
    }

    /// Reads a table of `[NAME]` sections with `density_g_cm3`, `price_per_kg`, `diameter_mm`.
    pub fn parse(text: &str) -> Result<Materials, MaterialsError> {
        let table: BTreeMap<String, Material> = config::Config::builder()
            .add_source(File::from_str(text, FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(MaterialsError::Syntax)?;
        let mut by_name = BTreeMap::new();
        for (name, mut material) in table {
            for (field, value) in [
                ("density_g_cm3", material.density_g_cm3),
                ("price_per_kg", material.price_per_kg),
                ("diameter_mm", material.diameter_mm),
            ] {
                if !(value.is_finite() && value > 0.0) {
                    return Err(MaterialsError::NotPositive { name, field });
                }
            }
            material.name = name.clone();
            by_name.insert(name.to_ascii_lowercase(), material);
        }
        Ok(Materials { by_name })
    }

    /// The material called `name` (any case).
    pub fn get(&self, name: &str) -> Result<&Material, MaterialsError> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| MaterialsError::Unknown {
                name: name.to_owned(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.values().map(|m| m.name.as_str())
    }
}
