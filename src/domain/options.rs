//! How a job asks a Bambu printer to print a sliced project: the plate, the AMS and its
//! mapping, timelapse and bed levelling. The names are a contract of both doors (LAN
//! `POST /api/jobs` fields, cloud `job.submit` `options`) and of the store (the job's
//! `print_options` column, JSON in this same shape), so this one type carries its JSON form.
//!
//! Only a sliced project takes options (plain G-code starts with `gcode_file`, which takes
//! none); they are checked here for what can be checked without the file, and against the
//! project's plates at intake (`gateway::options`).

use serde::{Deserialize, Serialize};

/// The most AMS slots a printer addresses: four AMS units of four trays.
pub const AMS_SLOTS: i64 = 16;
/// The external spool in an `ams_mapping`.
pub const EXTERNAL_SPOOL: i64 = -1;

/// What the job asks of the printer; absent fields take the defaults (the first plate, no
/// AMS, no timelapse, no bed levelling).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrintOptions {
    /// 1-based `N` of the project's `Metadata/plate_N.gcode`; `None`: its first plate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<u32>,
    #[serde(default)]
    pub use_ams: bool,
    /// Per filament of the project, in order: the AMS slot (0–15) or `-1`, the external spool.
    #[serde(default)]
    pub ams_mapping: Vec<i64>,
    #[serde(default)]
    pub timelapse: bool,
    #[serde(default)]
    pub bed_levelling: bool,
}

/// Why options were refused before the file was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("plate numbers start at 1")]
    PlateZero,
    #[error("ams_mapping has {0} entries; at most {AMS_SLOTS} are allowed")]
    MappingTooLong(usize),
    #[error(
        "ams_mapping entry {0} is out of range: -1 (the external spool) or an AMS slot 0 to 15"
    )]
    MappingEntry(i64),
    #[error("ams_mapping is given but use_ams is not true")]
    MappingWithoutAms,
}

impl PrintOptions {
    /// The checks the names and types do not make.
    pub fn check(&self) -> Result<(), OptionsError> {
        if self.plate == Some(0) {
            return Err(OptionsError::PlateZero);
        }
        if self.ams_mapping.len() > AMS_SLOTS as usize {
            return Err(OptionsError::MappingTooLong(self.ams_mapping.len()));
        }
        let slot = EXTERNAL_SPOOL..AMS_SLOTS;
        if let Some(&bad) = (self.ams_mapping.iter()).find(|s| !slot.contains(s)) {
            return Err(OptionsError::MappingEntry(bad));
        }
        if !self.ams_mapping.is_empty() && !self.use_ams {
            return Err(OptionsError::MappingWithoutAms);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_options_ask_for_the_first_plate_without_ams_timelapse_or_levelling() {
        let options: PrintOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(options, PrintOptions::default());
        assert_eq!(options.check(), Ok(()));
    }

    #[test]
    fn an_unknown_option_name_is_refused() {
        let refused = serde_json::from_str::<PrintOptions>(r#"{"bed_leveling": true}"#);
        assert!(refused.unwrap_err().to_string().contains("bed_leveling"));
    }

    #[test]
    fn mapping_entries_are_the_external_spool_or_one_of_sixteen_slots() {
        let with = |ams_mapping: Vec<i64>| PrintOptions {
            use_ams: true,
            ams_mapping,
            ..PrintOptions::default()
        };
        assert_eq!(with(vec![-1, 0, 15]).check(), Ok(()));
        assert_eq!(
            with(vec![0, 16]).check(),
            Err(OptionsError::MappingEntry(16))
        );
        assert_eq!(with(vec![-2]).check(), Err(OptionsError::MappingEntry(-2)));
        assert_eq!(
            with(vec![0; 17]).check(),
            Err(OptionsError::MappingTooLong(17))
        );
    }

    #[test]
    fn a_mapping_needs_the_ams_and_plates_start_at_one() {
        let unused = PrintOptions {
            ams_mapping: vec![0],
            ..PrintOptions::default()
        };
        assert_eq!(unused.check(), Err(OptionsError::MappingWithoutAms));
        let zero = PrintOptions {
            plate: Some(0),
            ..PrintOptions::default()
        };
        assert_eq!(zero.check(), Err(OptionsError::PlateZero));
    }
}
