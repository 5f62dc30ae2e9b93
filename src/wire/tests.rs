//! The wire shapes, checked field by field against the contracts.

use super::*;
use crate::domain::{JobId, PrinterId};
use crate::events::{Event, EventKind, JobRef};
use crate::printer::ExternalPrint;

#[test]
fn a_status_update_event_has_the_contract_fields() {
    let event = Event {
        seq: 7,
        at: OffsetDateTime::UNIX_EPOCH,
        kind: EventKind::JobStatus(JobRef {
            id: JobId(42),
            cloud_job_id: Some("c-42".into()),
            project_id: Some("p-1".into()),
            printer: Some(PrinterId("mk3s".into())),
            file_name: "part.gcode".into(),
            status: JobStatus::Printing {
                progress: Percent::new(5),
            },
            remaining_s: Some(1200),
        }),
    };
    let json = serde_json::to_value(EventJson::from(&event)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "v": 1, "seq": 7, "at": "1970-01-01T00:00:00Z", "type": "print:status-update",
            "job_id": "c-42", "gateway_job": 42, "project_id": "p-1", "printer": "mk3s",
            "file_name": "part.gcode", "status": "printing", "stage": null, "progress": 5,
            "error": null, "remaining_time": 1200
        })
    );
}

#[test]
fn an_external_print_is_its_own_state_with_file_and_progress_and_no_job() {
    let status = PrinterStatus {
        id: PrinterId("octo".into()),
        state: PrinterState::PrintingExternal {
            file: "benchy.gcode".into(),
        },
        temperatures: Temperatures::default(),
        current: None,
        accuracy: Default::default(),
        external: Some(ExternalPrint {
            file: "benchy.gcode".into(),
            progress: Some(Percent::new(42)),
        }),
    };
    let json = serde_json::to_value(PrinterJson::from(&status)).unwrap();
    assert_eq!(json["state"], "printing-external");
    assert_eq!(json["job"], serde_json::Value::Null);
    assert_eq!(
        json["external"],
        serde_json::json!({"file": "benchy.gcode", "progress": 42})
    );
    let event = Event {
        seq: 9,
        at: OffsetDateTime::UNIX_EPOCH,
        kind: EventKind::PrinterState {
            printer: status.id.clone(),
            state: status.state.clone(),
        },
    };
    let json = serde_json::to_value(EventJson::from(&event)).unwrap();
    assert_eq!(json["state"], "printing-external");
    assert_eq!(
        json["external"],
        serde_json::json!({"file": "benchy.gcode", "progress": null})
    );
}
