//! The requests the gateway publishes on `device/{serial}/request`, as the printers take
//! them (OpenBambuAPI's mqtt.md, and what Bambu Studio sends). Each carries a `sequence_id`
//! the printer echoes in its answer.

use serde_json::{Value, json};

/// A job's file on the printer, and how it is started.
#[derive(Debug, Clone, PartialEq)]
pub enum PrintFile {
    /// A sliced project (`.gcode.3mf`) and the plate whose G-code prints.
    Project { name: String, plate: u32 },
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

/// Start `file`, named `subtask` (the tracker knows the job by it). Timelapse, bed
/// levelling and calibrations stay off and the AMS is not used: the gateway has no way to
/// ask for them yet.
pub fn start(sequence_id: u64, file: &PrintFile, subtask: &str) -> Value {
    match file {
        PrintFile::Project { name, plate } => json!({"print": {
            "sequence_id": sequence_id.to_string(),
            "command": "project_file",
            "param": format!("Metadata/plate_{plate}.gcode"),
            "project_id": "0",
            "profile_id": "0",
            "task_id": "0",
            "subtask_id": "0",
            "subtask_name": subtask,
            "url": format!("ftp:///{name}"),
            "timelapse": false,
            "bed_type": "auto",
            "bed_levelling": false,
            "flow_cali": false,
            "vibration_cali": false,
            "layer_inspect": false,
            "use_ams": false,
            "ams_mapping": [],
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
    fn a_project_starts_with_its_plate_and_name() {
        let file = PrintFile::Project {
            name: "fluxprint-job-4.gcode.3mf".into(),
            plate: 1,
        };
        let request = start(9, &file, "fluxprint-job-4");
        assert_eq!(request["print"]["param"], "Metadata/plate_1.gcode");
        assert_eq!(request["print"]["url"], "ftp:///fluxprint-job-4.gcode.3mf");
        assert_eq!(request["print"]["sequence_id"], "9");
        assert_eq!(request["print"]["use_ams"], false);
    }
}
