//! The requests the gateway publishes on `device/{serial}/request`, as the printers take
//! them (OpenBambuAPI's mqtt.md, and what Bambu Studio sends). Each carries a `sequence_id`
//! the printer echoes in its answer.

use serde_json::{Value, json};

use crate::domain::PrintOptions;

/// A job's file on the printer, and how it is started.
#[derive(Debug, Clone, PartialEq)]
pub enum PrintFile {
    /// A sliced project (`.gcode.3mf`), the plate whose G-code prints, and how (the AMS
    /// and its mapping, timelapse, bed levelling; `options.plate` is already in `plate`).
    Project {
        name: String,
        plate: u32,
        options: PrintOptions,
    },
    /// Plain G-code.
    Gcode { name: String },
}

impl PrintFile {
    pub fn name(&self) -> &str {
        match self {
            PrintFile::Project { name, .. } | PrintFile::Gcode { name } => name,
        }
    }
}

/// Ask for the whole state (only on connect: P1 printers must not be asked often).
pub fn pushall(sequence_id: u64) -> Value {
    json!({"pushing": {
        "sequence_id": sequence_id.to_string(),
        "command": "pushall",
        "version": 1,
        "push_target": 1,
    }})
}

/// Start `file`, named `subtask` (the tracker knows the job by it). A project's timelapse,
/// bed levelling and AMS are as its job's options say (off unless asked); flow and vibration
/// calibrations and the layer inspection stay off.
pub fn start(sequence_id: u64, file: &PrintFile, subtask: &str) -> Value {
    match file {
        PrintFile::Project {
            name,
            plate,
            options,
        } => json!({"print": {
            "sequence_id": sequence_id.to_string(),
            "command": "project_file",
            "param": format!("Metadata/plate_{plate}.gcode"),
            "project_id": "0",
            "profile_id": "0",
            "task_id": "0",
            "subtask_id": "0",
            "subtask_name": subtask,
            "url": format!("ftp:///{name}"),
            "timelapse": options.timelapse,
            "bed_type": "auto",
            "bed_levelling": options.bed_levelling,
            "flow_cali": false,
            "vibration_cali": false,
            "layer_inspect": false,
            "use_ams": options.use_ams,
            "ams_mapping": options.ams_mapping,
        }}),
        PrintFile::Gcode { name } => json!({"print": {
            "sequence_id": sequence_id.to_string(),
            "command": "gcode_file",
            "param": name,
            "subtask_name": subtask,
        }}),
    }
}

/// `pause`, `resume` or `stop` of the print on the printer.
pub fn control(sequence_id: u64, command: &'static str) -> Value {
    json!({"print": {
        "sequence_id": sequence_id.to_string(),
        "command": command,
        "param": "",
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_starts_with_its_plate_and_name_and_everything_off_by_default() {
        let file = PrintFile::Project {
            name: "fluxprint-job-4.gcode.3mf".into(),
            plate: 1,
            options: PrintOptions::default(),
        };
        let request = start(9, &file, "fluxprint-job-4");
        assert_eq!(request["print"]["param"], "Metadata/plate_1.gcode");
        assert_eq!(request["print"]["url"], "ftp:///fluxprint-job-4.gcode.3mf");
        assert_eq!(request["print"]["sequence_id"], "9");
        for off in ["use_ams", "timelapse", "bed_levelling", "flow_cali"] {
            assert_eq!(request["print"][off], false, "{off}");
        }
        assert_eq!(request["print"]["ams_mapping"], json!([]));
    }

    #[test]
    fn a_project_starts_as_its_options_ask() {
        let options = PrintOptions {
            plate: Some(2),
            use_ams: true,
            ams_mapping: vec![1, -1],
            timelapse: true,
            bed_levelling: true,
        };
        let file = PrintFile::Project {
            name: "fluxprint-job-5.gcode.3mf".into(),
            plate: 2,
            options,
        };
        let print = &start(3, &file, "fluxprint-job-5")["print"];
        assert_eq!(print["param"], "Metadata/plate_2.gcode");
        assert_eq!(print["use_ams"], true);
        assert_eq!(print["ams_mapping"], json!([1, -1]));
        assert_eq!(print["timelapse"], true);
        assert_eq!(print["bed_levelling"], true);
        assert_eq!(print["vibration_cali"], false);
    }
}
