//! The tracker against sequences of what OctoPrint says.

use super::*;
use crate::domain::Percent;
use crate::printer::driver::DriverReport;

const JOB: JobId = JobId(7);
const PATH: &str = "fluxprint/job-7.gcode";

fn snap(state: &str, file: Option<&str>, completion: Option<f64>) -> Snapshot {
    Snapshot {
        state: OctoState::parse(state),
        error: None,
        file: file.map(str::to_owned),
        completion,
        temperatures: None,
    }
}

fn reports(steps: Vec<Step>) -> Vec<DriverReport> {
    steps
        .into_iter()
        .filter_map(|s| match s {
            Step::Report(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn connected() -> Tracker {
    let mut t = Tracker::new(false);
    assert_eq!(
        reports(t.observe(snap("Operational", None, None))),
        vec![DriverReport::Connected]
    );
    t
}

#[test]
fn a_print_reports_progress_once_per_percent_and_completes_on_print_done() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    let progress = |p| DriverReport::Progress {
        job: JOB,
        progress: Percent::new(p),
    };
    assert_eq!(
        reports(t.observe(snap("Printing", Some(PATH), Some(10.4)))),
        vec![progress(10)]
    );
    assert_eq!(
        reports(t.observe(snap("Printing", Some(PATH), Some(10.9)))),
        vec![]
    );
    assert_eq!(
        reports(t.observe(snap("Printing", Some(PATH), Some(55.0)))),
        vec![progress(55)]
    );
    let done = t.event(PrintEvent::Done { path: PATH.into() });
    assert_eq!(
        reports(done),
        vec![DriverReport::Finished {
            job: JOB,
            outcome: Outcome::Completed
        }]
    );
    assert!(
        t.observe(snap("Operational", Some(PATH), Some(100.0)))
            .is_empty()
    );
}

#[test]
fn a_long_pausing_is_not_yet_paused_and_paused_and_resumed_are_reported_once() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    t.observe(snap("Printing", Some(PATH), Some(1.0)));
    for _ in 0..5 {
        assert!(reports(t.observe(snap("Pausing", Some(PATH), Some(1.0)))).is_empty());
    }
    let paused = vec![DriverReport::Paused { job: JOB }];
    assert_eq!(
        reports(t.observe(snap("Paused", Some(PATH), Some(1.0)))),
        paused
    );
    assert!(reports(t.event(PrintEvent::Paused { path: PATH.into() })).is_empty());
    let resumed = vec![DriverReport::Resumed { job: JOB }];
    assert_eq!(
        reports(t.event(PrintEvent::Resumed { path: PATH.into() })),
        resumed
    );
    assert!(reports(t.observe(snap("Printing", Some(PATH), Some(1.0)))).is_empty());
}

#[test]
fn print_failed_with_reason_cancelled_is_a_cancellation_and_other_reasons_fail() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    let failed = |reason: &str| PrintEvent::Failed {
        path: PATH.into(),
        reason: reason.into(),
    };
    let cancelled = vec![DriverReport::Finished {
        job: JOB,
        outcome: Outcome::Cancelled,
    }];
    assert_eq!(reports(t.event(failed("cancelled"))), cancelled);
    t.track(JOB, PATH.into(), false);
    let [
        DriverReport::Finished {
            outcome: Outcome::Failed(why),
            ..
        },
    ] = <[DriverReport; 1]>::try_from(reports(t.event(failed("error")))).unwrap()
    else {
        panic!("expected one failure");
    };
    assert!(why.contains("error"), "{why}");
}

#[test]
fn an_idle_snapshot_before_the_print_was_seen_waits_for_octoprints_record() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    let steps = t.observe(snap("Operational", None, None));
    assert_eq!(
        steps,
        vec![Step::Resolve {
            job: JOB,
            path: PATH.into()
        }]
    );
    assert!(
        t.observe(snap("Operational", None, None)).is_empty(),
        "one look-up at a time"
    );
    assert!(
        t.resolved(JOB, None).is_empty(),
        "no record yet: keep waiting"
    );
    t.event(PrintEvent::Started { path: PATH.into() });
    let steps = t.observe(snap("Operational", Some(PATH), Some(100.0)));
    assert_eq!(
        steps,
        vec![Step::Resolve {
            job: JOB,
            path: PATH.into()
        }]
    );
    assert_eq!(
        reports(t.resolved(JOB, Some(true))),
        vec![DriverReport::Finished {
            job: JOB,
            outcome: Outcome::Completed
        }]
    );
}

#[test]
fn a_reattached_job_that_octoprint_forgot_ends_interrupted_with_the_reason() {
    let mut t = Tracker::new(false);
    t.track(JOB, PATH.into(), true);
    let steps = t.observe(snap("Operational", None, None));
    assert!(steps.contains(&Step::Resolve {
        job: JOB,
        path: PATH.into()
    }));
    let [
        DriverReport::Finished {
            outcome: Outcome::Interrupted(why),
            ..
        },
    ] = <[DriverReport; 1]>::try_from(reports(t.resolved(JOB, None))).unwrap()
    else {
        panic!("expected the job to end interrupted");
    };
    assert!(why.contains("no record"), "{why}");
}

#[test]
fn a_failed_record_is_a_cancellation_only_when_the_gateway_cancelled() {
    let mut t = connected();
    t.track(JOB, PATH.into(), true);
    t.cancel_requested();
    t.observe(snap("Operational", None, None));
    let cancelled = vec![DriverReport::Finished {
        job: JOB,
        outcome: Outcome::Cancelled,
    }];
    assert_eq!(reports(t.resolved(JOB, Some(false))), cancelled);
}

#[test]
fn octoprint_out_of_reach_keeps_the_job_and_reports_unreachable_once() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    t.observe(snap("Printing", Some(PATH), Some(5.0)));
    let unreachable = vec![DriverReport::Unreachable {
        reason: "gone".into(),
    }];
    assert_eq!(reports(t.unreachable("gone".into())), unreachable);
    assert!(reports(t.unreachable("gone".into())).is_empty());
    let back = t.observe(snap("Printing", Some(PATH), Some(6.0)));
    assert_eq!(
        reports(back),
        vec![
            DriverReport::Progress {
                job: JOB,
                progress: Percent::new(6)
            },
            DriverReport::Connected
        ]
    );
}

#[test]
fn a_printer_error_is_a_fault_that_drops_the_job() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    let mut error = snap("Error", None, None);
    error.error = Some("MAXTEMP triggered!".into());
    let fault = vec![DriverReport::Fault {
        message: "OctoPrint: MAXTEMP triggered!".into(),
    }];
    assert_eq!(reports(t.observe(error)), fault);
    assert!(reports(t.event(PrintEvent::Done { path: PATH.into() })).is_empty());
}

#[test]
fn a_print_started_by_someone_else_is_external_until_octoprint_is_idle_after_its_end() {
    let mut t = connected();
    let started = t.event(PrintEvent::Started {
        path: "benchy.gcode".into(),
    });
    let external = |progress: Option<u8>| DriverReport::External {
        file: "benchy.gcode".into(),
        progress: progress.map(Percent::new),
    };
    assert_eq!(reports(started), vec![external(None)]);
    let running = t.observe(snap("Printing", Some("benchy.gcode"), Some(42.5)));
    assert_eq!(reports(running), vec![external(Some(42))]);
    assert!(reports(t.observe(snap("Printing", Some("benchy.gcode"), Some(42.9)))).is_empty());
    let cancelled = t.event(PrintEvent::Cancelled {
        path: "benchy.gcode".into(),
    });
    assert!(
        reports(cancelled).is_empty(),
        "still running its cancel script"
    );
    let cancelling = t.observe(snap("Cancelling", Some("benchy.gcode"), Some(43.0)));
    assert_eq!(reports(cancelling), vec![external(Some(43))]);
    let idle = t.observe(snap("Operational", Some("benchy.gcode"), None));
    assert_eq!(reports(idle), vec![DriverReport::Connected]);
}

#[test]
fn an_external_print_seen_only_by_polling_ends_when_octoprint_is_idle_again() {
    let mut t = connected();
    let running = reports(t.observe(snap("Paused", Some("benchy.gcode"), Some(10.0))));
    assert!(
        matches!(running.as_slice(), [DriverReport::External { .. }]),
        "{running:?}"
    );
    let idle = t.observe(snap("Operational", Some("benchy.gcode"), Some(100.0)));
    assert_eq!(reports(idle), vec![DriverReport::Connected]);
}

#[test]
fn an_ended_job_deletes_its_file_when_configured_once_octoprint_is_idle() {
    let mut t = Tracker::new(true);
    t.track(JOB, PATH.into(), false);
    let steps = t.event(PrintEvent::Cancelled { path: PATH.into() });
    let delete = Step::Delete { path: PATH.into() };
    assert!(
        !steps.contains(&delete),
        "deleted while still in use: {steps:?}"
    );
    let cancelling = t.observe(snap("Cancelling", Some(PATH), Some(40.0)));
    assert!(!cancelling.contains(&delete), "{cancelling:?}");
    let idle = t.observe(snap("Operational", Some(PATH), Some(40.0)));
    assert_eq!(idle.iter().filter(|s| **s == delete).count(), 1, "{idle:?}");
    let later = t.observe(snap("Operational", Some(PATH), Some(40.0)));
    assert!(!later.contains(&delete), "deleted twice: {later:?}");
}

#[test]
fn a_reattached_job_is_followed_as_ours_even_when_octoprint_was_seen_printing_it_first() {
    let mut t = connected();
    let early = reports(t.observe(snap("Printing", Some(PATH), Some(20.0))));
    assert!(
        matches!(early.as_slice(), [DriverReport::External { .. }]),
        "before the Reattach: {early:?}"
    );
    t.track(JOB, PATH.into(), true);
    let steps = t.observe(snap("Printing", Some(PATH), Some(30.0)));
    assert_eq!(
        reports(steps),
        vec![
            DriverReport::Progress {
                job: JOB,
                progress: Percent::new(30)
            },
            DriverReport::Connected
        ]
    );
    let done = t.event(PrintEvent::Done { path: PATH.into() });
    assert_eq!(
        reports(done),
        vec![DriverReport::Finished {
            job: JOB,
            outcome: Outcome::Completed
        }]
    );
}

#[test]
fn an_old_upload_of_ours_printed_again_by_hand_is_external_not_a_job() {
    let mut t = connected();
    let started = t.event(PrintEvent::Started { path: PATH.into() });
    assert_eq!(
        reports(started),
        vec![DriverReport::External {
            file: PATH.into(),
            progress: None
        }]
    );
    let running = reports(t.observe(snap("Printing", Some(PATH), Some(30.0))));
    assert!(
        running
            .iter()
            .all(|r| matches!(r, DriverReport::External { .. })),
        "{running:?}"
    );
}

#[test]
fn files_that_only_look_like_the_gateways_are_external_prints() {
    for path in [
        "fluxprint/job-7.gco",
        "other/job-7.gcode",
        "fluxprint/job-x.gcode",
        "fluxprint/job-07.gcode",
    ] {
        let mut t = connected();
        let steps = reports(t.observe(snap("Printing", Some(path), Some(30.0))));
        assert!(
            matches!(steps.as_slice(), [DriverReport::External { .. }]),
            "{path}: {steps:?}"
        );
    }
}

#[test]
fn the_cancelling_tail_of_a_job_of_ours_is_not_an_external_print() {
    let mut t = connected();
    t.track(JOB, PATH.into(), false);
    t.observe(snap("Printing", Some(PATH), Some(10.0)));
    let cancelled = reports(t.event(PrintEvent::Cancelled { path: PATH.into() }));
    assert_eq!(
        cancelled,
        vec![DriverReport::Finished {
            job: JOB,
            outcome: Outcome::Cancelled
        }]
    );
    assert!(reports(t.observe(snap("Cancelling", Some(PATH), Some(10.0)))).is_empty());
    assert!(reports(t.observe(snap("Operational", Some(PATH), None))).is_empty());
    let again = reports(t.event(PrintEvent::Started { path: PATH.into() }));
    assert!(
        matches!(again.as_slice(), [DriverReport::External { .. }]),
        "printed again by hand after it ended: {again:?}"
    );
}

#[test]
fn a_refused_delete_is_asked_again_when_idle_until_the_tries_are_spent() {
    let mut t = Tracker::new(true);
    t.track(JOB, PATH.into(), false);
    t.event(PrintEvent::Cancelled { path: PATH.into() });
    let delete = Step::Delete { path: PATH.into() };
    let idle = || snap("Operational", None, None);
    assert!(t.observe(idle()).contains(&delete));
    assert!(
        !t.observe(idle()).contains(&delete),
        "asked once while it goes"
    );
    for _ in 1..crate::printer::host::DELETE_TRIES {
        assert!(t.delete_refused(PATH.into()), "asked again");
        assert!(t.observe(idle()).contains(&delete));
    }
    assert!(!t.delete_refused(PATH.into()), "given up");
    assert!(!t.observe(idle()).contains(&delete));
}
