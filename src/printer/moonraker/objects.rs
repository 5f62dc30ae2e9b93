//! Klipper's printer objects as the driver last saw them, sans-IO: a subscription's (or a
//! query's) whole answer, with every `notify_status_update` merged in (Moonraker sends only
//! the fields that changed), read as one [`Snapshot`].

use serde_json::{Map, Value, json};

use super::state::{JobState, KlippyState};
use crate::domain::{Temperature, Temperatures};

/// One look at the printer, pieced together from what Moonraker said so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub klippy: KlippyState,
    pub job: JobState,
    /// `print_stats.filename`: the loaded file's path under `gcodes`; `None` when empty.
    pub file: Option<String>,
    /// `print_stats.message`: why a print stopped on an error; `None` when empty.
    pub message: Option<String>,
    /// `virtual_sdcard.progress`, a fraction of the file.
    pub progress: Option<f64>,
    pub temperatures: Option<Temperatures>,
    pub printed: Printed,
    /// Built on a whole answer (a subscription's or query's) since Klippy was last lost:
    /// until then only Klippy's state is known, not what it prints.
    pub whole: bool,
    /// Taken whole just now (a subscription's or a query's answer), not pieced together
    /// from updates: a print the gateway started must show in it.
    pub fresh: bool,
}

/// What the print has done so far, by Klipper's count.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Printed {
    /// `print_stats.print_duration`: seconds printing (pauses and heating left out).
    pub duration_s: f64,
    /// `print_stats.filament_used`, mm.
    pub filament_mm: f64,
}

/// The merged objects: object name → its fields.
#[derive(Debug, Default)]
pub struct Objects {
    tree: Map<String, Value>,
    /// A whole answer was read since the last reset.
    whole: bool,
}

impl Objects {
    /// A whole answer (the `status` of a subscription or query) replaces what was known.
    pub fn replace(&mut self, status: Value) {
        self.tree = match status {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.whole = true;
    }

    /// A `notify_status_update`: each object's changed fields.
    pub fn merge(&mut self, diff: Value) {
        let Value::Object(objects) = diff else {
            return;
        };
        for (name, fields) in objects {
            let Value::Object(fields) = fields else {
                continue;
            };
            let entry = self.tree.entry(name).or_insert_with(|| json!({}));
            if let Value::Object(known) = entry {
                known.extend(fields);
            }
        }
    }

    /// `printer.info`'s answer: Klippy's state and message, the same fields `webhooks` has.
    pub fn klippy_info(&mut self, info: &Value) {
        self.merge(json!({"webhooks": {
            "state": info["state"],
            "state_message": info["state_message"],
        }}));
    }

    /// Moonraker lost Klippy: everything Klippy said before is stale.
    pub fn klippy_lost(&mut self) {
        self.tree.clear();
        self.whole = false;
        self.merge(json!({"webhooks": {"state": "disconnected", "state_message": ""}}));
    }

    pub fn klippy(&self) -> KlippyState {
        let webhooks = &self.tree.get("webhooks");
        match webhooks.and_then(|w| w["state"].as_str()) {
            Some(state) => {
                let message = webhooks.and_then(|w| w["state_message"].as_str());
                KlippyState::parse(state, message.unwrap_or(""))
            }
            None => KlippyState::Disconnected,
        }
    }

    pub fn snapshot(&self, fresh: bool) -> Snapshot {
        let null = Value::Null;
        let stats = self.tree.get("print_stats").unwrap_or(&null);
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        Snapshot {
            klippy: self.klippy(),
            job: stats["state"]
                .as_str()
                .map_or(JobState::Standby, JobState::parse),
            file: text(&stats["filename"]),
            message: text(&stats["message"]),
            progress: self
                .tree
                .get("virtual_sdcard")
                .and_then(|v| v["progress"].as_f64()),
            temperatures: self.temperatures(),
            printed: Printed {
                duration_s: stats["print_duration"].as_f64().unwrap_or(0.0),
                filament_mm: stats["filament_used"].as_f64().unwrap_or(0.0),
            },
            whole: self.whole,
            fresh,
        }
    }

    fn temperatures(&self) -> Option<Temperatures> {
        let heater = |name: &str| {
            let fields = self.tree.get(name)?;
            Some(Temperature {
                actual_c: fields["temperature"].as_f64()?,
                target_c: fields["target"].as_f64().filter(|t| *t > 0.0),
            })
        };
        let (hotend, bed) = (heater("extruder"), heater("heater_bed"));
        if hotend.is_none() && bed.is_none() {
            return None;
        }
        Some(Temperatures {
            hotends: hotend.into_iter().collect(),
            bed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed() -> Objects {
        let mut objects = Objects::default();
        objects.replace(json!({
            "print_stats": {"filename": "", "state": "standby", "message": "",
                "print_duration": 0.0, "filament_used": 0.0},
            "virtual_sdcard": {"progress": 0.0},
            "extruder": {"temperature": 25.0, "target": 0.0},
            "heater_bed": {"temperature": 25.0, "target": 0.0},
            "webhooks": {"state": "ready", "state_message": "Printer is ready"},
        }));
        objects
    }

    #[test]
    fn updates_merge_field_by_field_into_one_state() {
        let mut objects = subscribed();
        objects.merge(json!({"print_stats": {"filename": "fluxprint/job-7.gcode",
            "state": "printing"}, "extruder": {"target": 210.0}}));
        objects.merge(json!({"virtual_sdcard": {"progress": 0.25},
            "extruder": {"temperature": 180.5}, "print_stats": {"print_duration": 12.5}}));
        let snapshot = objects.snapshot(false);
        assert_eq!(snapshot.klippy, KlippyState::Ready);
        assert_eq!(snapshot.job, JobState::Printing);
        assert_eq!(snapshot.file.as_deref(), Some("fluxprint/job-7.gcode"));
        assert_eq!(snapshot.progress, Some(0.25));
        assert_eq!(snapshot.printed.duration_s, 12.5);
        assert!(!snapshot.fresh);
        let temps = snapshot.temperatures.unwrap();
        assert_eq!(
            temps.hotends,
            vec![Temperature {
                actual_c: 180.5,
                target_c: Some(210.0)
            }]
        );
        assert_eq!(
            temps.bed,
            Some(Temperature {
                actual_c: 25.0,
                target_c: None
            })
        );
    }

    #[test]
    fn empty_file_and_message_are_none_and_a_new_object_in_an_update_is_kept() {
        let mut objects = subscribed();
        let snapshot = objects.snapshot(true);
        assert_eq!((snapshot.file, snapshot.message), (None, None));
        assert!(snapshot.fresh);
        objects.merge(
            json!({"print_stats": {"state": "error", "message": "Move out of range"},
            "fan": {"speed": 0.5}, "ignored": 3}),
        );
        let snapshot = objects.snapshot(false);
        assert_eq!(snapshot.job, JobState::Error);
        assert_eq!(snapshot.message.as_deref(), Some("Move out of range"));
    }

    #[test]
    fn printer_info_sets_klippys_state_and_losing_klippy_forgets_the_rest() {
        let mut objects = subscribed();
        assert!(objects.snapshot(false).whole);
        objects.klippy_info(&json!({"state": "shutdown",
            "state_message": "Shutdown due to M112 command\nPrinter is shutdown\n",
            "hostname": "voron"}));
        assert_eq!(
            objects.klippy(),
            KlippyState::Shutdown("Shutdown due to M112 command".into())
        );
        objects.klippy_lost();
        let snapshot = objects.snapshot(false);
        assert_eq!(snapshot.klippy, KlippyState::Disconnected);
        assert_eq!(snapshot.job, JobState::Standby);
        assert_eq!(snapshot.temperatures, None);
        assert!(!snapshot.whole, "what Klippy prints is not known any more");
        assert_eq!(
            Objects::default().klippy(),
            KlippyState::Disconnected,
            "nothing heard yet"
        );
    }
}
