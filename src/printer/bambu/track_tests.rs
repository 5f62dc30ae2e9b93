use super::*;
use crate::domain::Percent;

fn snapshot(state: GcodeState, subtask: &str, percent: u8) -> Snapshot {
    Snapshot {
        state,
        percent: Some(Percent::new(percent)),
        remaining_min: None,
        layer: None,
        temperatures: None,
        print_error: 0,
        hms: Vec::new(),
        subtask: (!subtask.is_empty()).then(|| subtask.to_owned()),
        gcode_file: None,
    }
}

fn reports(steps: Vec<Step>) -> Vec<DriverReport> {
    (steps.into_iter())
        .filter_map(|s| match s {
            Step::Report(r) => Some(r),
            Step::Delete { .. } => None,
        })
        .collect()
}

#[test]
fn the_previous_print_shown_before_ours_starts_is_neither_ours_nor_external() {
    let mut tracker = Tracker::new(false);
    tracker.observe(snapshot(GcodeState::Finish, "Benchy", 100));
    tracker.track(JobId(3), false);
    let steps = reports(tracker.observe(snapshot(GcodeState::Finish, "Benchy", 100)));
    assert!(steps.is_empty(), "{steps:?}");
    // A print of the same name ended before (job ids began again): not this job's end.
    let steps = reports(tracker.observe(snapshot(GcodeState::Finish, "fluxprint-job-3", 100)));
    assert!(steps.is_empty(), "{steps:?}");
    let steps = reports(tracker.observe(snapshot(GcodeState::Running, "fluxprint-job-3", 4)));
    assert_eq!(
        steps,
        [DriverReport::Progress {
            job: JobId(3),
            progress: Percent::new(4)
        }]
    );
    let steps = reports(tracker.observe(snapshot(GcodeState::Finish, "fluxprint-job-3", 100)));
    assert_eq!(
        steps,
        [DriverReport::Finished {
            job: JobId(3),
            outcome: Outcome::Completed
        }]
    );
}

#[test]
fn a_stop_the_gateway_asked_for_is_a_cancel_and_another_failure_names_its_codes() {
    let mut tracker = Tracker::new(true);
    tracker.observe(snapshot(GcodeState::Idle, "", 0));
    tracker.track(JobId(1), true);
    tracker.uploaded("fluxprint-job-1.gcode".into());
    tracker.cancel_requested();
    let steps = tracker.observe(snapshot(GcodeState::Failed, "fluxprint-job-1", 20));
    assert!(steps.contains(&Step::Report(DriverReport::Finished {
        job: JobId(1),
        outcome: Outcome::Cancelled
    })));
    assert!(steps.contains(&Step::Delete {
        name: "fluxprint-job-1.gcode".into()
    }));

    tracker.track(JobId(2), true);
    let mut failed = snapshot(GcodeState::Failed, "fluxprint-job-2", 20);
    failed.print_error = 0x0300_8001;
    let steps = reports(tracker.observe(failed));
    let [
        DriverReport::Finished {
            outcome: Outcome::Failed(why),
            ..
        },
    ] = &steps[..]
    else {
        panic!("{steps:?}");
    };
    assert!(why.contains("nozzle temperature"), "{why}");
}

#[test]
fn a_refusal_is_monitor_only_until_restart_and_prints_still_show() {
    let mut tracker = Tracker::new(false);
    tracker.observe(snapshot(GcodeState::Idle, "", 0));
    tracker.track(JobId(5), false);
    let steps = reports(tracker.refused("verify failed".into()));
    assert!(matches!(
        &steps[0],
        DriverReport::Finished {
            outcome: Outcome::Failed(_),
            ..
        }
    ));
    assert_eq!(
        steps[1],
        DriverReport::MonitorOnly {
            reason: "verify failed".into()
        }
    );
    let steps = reports(tracker.observe(snapshot(GcodeState::Running, "Cube", 10)));
    assert!(
        matches!(&steps[..], [DriverReport::External { .. }]),
        "{steps:?}"
    );
    reports(tracker.unreachable("broker down".into()));
    let steps = reports(tracker.observe(snapshot(GcodeState::Idle, "Cube", 0)));
    assert!(
        matches!(&steps[..], [DriverReport::MonitorOnly { .. }]),
        "still monitor-only after a reconnect: {steps:?}"
    );
}

#[test]
fn a_printer_that_restarts_right_after_the_start_request_interrupts_the_job() {
    let mut tracker = Tracker::new(false);
    tracker.observe(snapshot(GcodeState::Idle, "", 0));
    tracker.track(JobId(4), false);
    // Idle before the start request went out, and just after it: the print is not lost.
    assert!(reports(tracker.observe(snapshot(GcodeState::Idle, "", 0))).is_empty());
    tracker.uploaded("fluxprint-job-4.gcode".into());
    let idle = snapshot(GcodeState::Idle, "fluxprint-job-4", 0);
    assert!(reports(tracker.observe(idle.clone())).is_empty());
    // The printer went away before its first report of the print, and came back idle.
    tracker.unreachable("power cut".into());
    let steps = reports(tracker.observe(idle));
    assert!(
        matches!(
            steps.first(),
            Some(DriverReport::Finished {
                job: JobId(4),
                outcome: Outcome::Interrupted(_)
            })
        ),
        "{steps:?}"
    );
}
