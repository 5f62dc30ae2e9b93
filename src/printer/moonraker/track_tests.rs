//! The tracker against sequences of what Moonraker says.

use super::*;
use crate::domain::Percent;
use crate::printer::driver::DriverReport;
use crate::printer::moonraker::objects::Printed;
use crate::printer::moonraker::state::KlippyState;

pub const JOB: JobId = JobId(7);
pub const PATH: &str = "fluxprint/job-7.gcode";

pub fn snap(job: &str, file: Option<&str>, progress: Option<f64>) -> Snapshot {
    Snapshot {
        klippy: KlippyState::Ready,
        job: JobState::parse(job),
        file: file.map(str::to_owned),
        message: None,
        progress,
        temperatures: None,
        printed: Printed::default(),
        whole: true,
        fresh: false,
    }
}

fn fresh(job: &str, file: Option<&str>) -> Snapshot {
    Snapshot {
        fresh: true,
        ..snap(job, file, None)
    }
}

fn klippy(state: KlippyState) -> Snapshot {
    Snapshot {
        klippy: state,
        ..snap("standby", None, None)
    }
}

pub fn reports(steps: Vec<Step>) -> Vec<DriverReport> {
    steps
        .into_iter()
        .filter_map(|s| match s {
            Step::Report(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn finished(outcome: Outcome) -> Vec<DriverReport> {
    vec![DriverReport::Finished { job: JOB, outcome }]
}

pub fn connected() -> Tracker {
    connected_deleting(false)
}

fn connected_deleting(delete_after_job: bool) -> Tracker {
    let mut t = Tracker::new(delete_after_job);
    assert_eq!(
        reports(t.observe(fresh("standby", None))),
        vec![DriverReport::Connected]
    );
    t
}

/// A tracker following JOB, started and seen printing.
fn printing() -> Tracker {
    printing_deleting(false)
}

/// [`printing`], with the ended job's file deleted or not.
fn printing_deleting(delete_after_job: bool) -> Tracker {
    let mut t = connected_deleting(delete_after_job);
    t.uploading(JOB, PATH.into());
    t.uploaded(JOB);
    assert!(!t.started(JOB));
    t.observe(snap("printing", Some(PATH), Some(0.0)));
    t
}

#[test]
fn a_cancel_while_klipper_has_not_answered_the_start_waits_for_the_answer() {
    let mut t = connected();
    t.uploading(JOB, PATH.into());
    assert!(
        !t.cancel_waits(),
        "while uploading, the driver drops the upload"
    );
    t.uploaded(JOB);
    assert!(t.cancel_waits());
    assert!(t.started(JOB), "cancel now");
    assert!(!t.cancel_waits(), "once started, a cancel goes at once");
}

#[test]
fn a_print_reports_progress_once_per_percent_and_completes_when_klipper_says_complete() {
    let mut t = connected();
    t.uploading(JOB, PATH.into());
    t.uploaded(JOB);
    t.started(JOB);
    let progress = |p| DriverReport::Progress {
        job: JOB,
        progress: Percent::new(p),
    };
    let at = |fraction| snap("printing", Some(PATH), Some(fraction));
    assert_eq!(reports(t.observe(at(0.104))), vec![progress(10)]);
    assert_eq!(reports(t.observe(at(0.109))), vec![]);
    assert_eq!(reports(t.observe(at(0.55))), vec![progress(55)]);
    let done = t.observe(snap("complete", Some(PATH), Some(1.0)));
    assert_eq!(reports(done), finished(Outcome::Completed));
    assert!(
        t.observe(snap("complete", Some(PATH), Some(1.0)))
            .is_empty()
    );
}

#[test]
fn paused_and_resumed_are_reported_once_each() {
    let mut t = printing();
    let paused = vec![DriverReport::Paused { job: JOB }];
    assert_eq!(
        reports(t.observe(snap("paused", Some(PATH), Some(0.0)))),
        paused
    );
    assert!(reports(t.observe(snap("paused", Some(PATH), Some(0.0)))).is_empty());
    let resumed = vec![DriverReport::Resumed { job: JOB }];
    assert_eq!(
        reports(t.observe(snap("printing", Some(PATH), Some(0.0)))),
        resumed
    );
}

#[test]
fn cancelled_is_a_cancellation_and_an_error_fails_with_klippers_message() {
    let mut t = printing();
    let cancelled = t.observe(snap("cancelled", Some(PATH), None));
    assert_eq!(reports(cancelled), finished(Outcome::Cancelled));
    let mut t = printing();
    let mut error = snap("error", Some(PATH), None);
    error.message = Some("Move out of range: 300.000 0.000 0.200 [0.000]".into());
    let [
        DriverReport::Finished {
            outcome: Outcome::Failed(why),
            ..
        },
    ] = <[DriverReport; 1]>::try_from(reports(t.observe(error))).unwrap()
    else {
        panic!("expected one failure");
    };
    assert!(why.contains("Move out of range"), "{why}");
}

#[test]
fn what_klipper_shows_before_it_accepted_the_start_is_not_the_job() {
    let mut t = connected();
    t.uploading(JOB, PATH.into());
    // An older installation's job 7, completed long ago under the same name.
    assert!(reports(t.observe(fresh("complete", Some(PATH)))).is_empty());
    t.uploaded(JOB);
    assert!(reports(t.observe(fresh("complete", Some(PATH)))).is_empty());
    t.started(JOB);
    let printing = Snapshot {
        fresh: true,
        ..snap("printing", Some(PATH), Some(0.0))
    };
    assert_eq!(
        reports(t.observe(printing)),
        vec![DriverReport::Progress {
            job: JOB,
            progress: Percent::ZERO
        }]
    );
}

#[test]
fn a_started_job_missing_from_a_whole_look_is_looked_up_and_waited_for_without_a_record() {
    let mut t = connected();
    t.uploading(JOB, PATH.into());
    t.uploaded(JOB);
    t.started(JOB);
    assert!(
        t.observe(snap("standby", None, None)).is_empty(),
        "an update may be older than the start"
    );
    let resolve = vec![Step::Resolve {
        job: JOB,
        path: PATH.into(),
    }];
    assert_eq!(t.observe(fresh("standby", None)), resolve);
    assert!(
        t.observe(fresh("standby", None)).is_empty(),
        "one look-up at a time"
    );
    assert!(
        t.resolved(JOB, Recorded::Unknown).is_empty(),
        "keep waiting"
    );
    assert_eq!(t.observe(fresh("standby", None)), resolve);
    assert_eq!(
        reports(t.resolved(JOB, Recorded::Completed)),
        finished(Outcome::Completed)
    );
}

#[test]
fn a_reattached_job_klipper_forgot_ends_as_moonrakers_history_recorded_it() {
    let mut t = connected();
    t.reattach(JOB, PATH.into());
    let steps = t.observe(fresh("standby", None));
    assert_eq!(
        steps,
        vec![Step::Resolve {
            job: JOB,
            path: PATH.into()
        }]
    );
    let [
        DriverReport::Finished {
            outcome: Outcome::Interrupted(reason),
            ..
        },
    ] = <[DriverReport; 1]>::try_from(reports(t.resolved(JOB, Recorded::Unknown))).unwrap()
    else {
        panic!("expected one interruption");
    };
    assert!(reason.contains("no record"), "{reason}");
    let mut t = connected();
    t.reattach(JOB, PATH.into());
    t.observe(fresh("standby", None));
    let recorded = Recorded::parse("klippy_disconnect");
    assert!(matches!(
        reports(t.resolved(JOB, recorded)).as_slice(),
        [DriverReport::Finished {
            outcome: Outcome::Interrupted(_),
            ..
        }]
    ));
}

#[test]
fn moonraker_out_of_reach_keeps_the_job_and_reports_unreachable_once_until_it_is_back() {
    let mut t = printing();
    let reason = "cannot reach Moonraker".to_owned();
    let lost = reports(t.unreachable(reason.clone()));
    assert_eq!(lost, vec![DriverReport::Unreachable { reason }]);
    assert!(t.unreachable("again".into()).len() <= 1);
    let back = reports(t.observe(fresh("printing", Some(PATH))));
    assert_eq!(back, vec![DriverReport::Connected], "the job goes on");
    let lost = reports(t.observe(klippy(KlippyState::Disconnected)));
    assert!(
        matches!(lost.as_slice(), [DriverReport::Unreachable { .. }]),
        "Klippy away is not the print's end: {lost:?}"
    );
}

#[test]
fn klippys_state_alone_says_nothing_of_the_print_until_a_whole_look() {
    let mut t = Tracker::new(false);
    t.reattach(JOB, PATH.into());
    let info_only = Snapshot {
        whole: false,
        ..snap("standby", None, None)
    };
    assert!(
        t.observe(info_only).is_empty(),
        "neither gone nor connected"
    );
    let steps = reports(t.observe(fresh("printing", Some(PATH))));
    assert_eq!(steps, vec![DriverReport::Connected]);
}

#[test]
fn a_klippy_shutdown_is_a_fault_with_its_message_that_drops_the_job() {
    let mut t = printing();
    let shutdown = klippy(KlippyState::parse(
        "shutdown",
        "Shutdown due to M112 command\nPrinter is shutdown",
    ));
    assert_eq!(
        reports(t.observe(shutdown)),
        vec![DriverReport::Fault {
            message: "Klipper: Shutdown due to M112 command".into()
        }]
    );
    assert!(!t.is_tracking(JOB));
    assert_eq!(
        reports(t.observe(fresh("standby", None))),
        vec![DriverReport::Connected],
        "ready again after a firmware restart"
    );
}

#[test]
fn a_print_started_by_someone_else_is_external_with_progress_until_it_ends() {
    let mut t = connected();
    let external = |progress| DriverReport::External {
        file: "benchy.gcode".into(),
        progress: Some(Percent::new(progress)),
    };
    let at = |job, fraction| snap(job, Some("benchy.gcode"), Some(fraction));
    assert_eq!(reports(t.observe(at("printing", 0.1))), vec![external(10)]);
    assert_eq!(reports(t.observe(at("paused", 0.2))), vec![external(20)]);
    assert!(reports(t.observe(at("paused", 0.201))).is_empty());
    assert_eq!(
        reports(t.observe(at("cancelled", 0.2))),
        vec![DriverReport::Connected]
    );
}

#[test]
fn a_start_given_up_while_someone_else_prints_leaves_the_printer_external() {
    let mut t = connected();
    t.uploading(JOB, PATH.into());
    assert!(reports(t.observe(snap("printing", Some("benchy.gcode"), None))).is_empty());
    t.uploaded(JOB);
    let steps = reports(t.give_up(Outcome::Failed("SD busy".into())));
    assert_eq!(
        steps,
        vec![
            DriverReport::Finished {
                job: JOB,
                outcome: Outcome::Failed("SD busy".into())
            },
            DriverReport::External {
                file: "benchy.gcode".into(),
                progress: None
            }
        ]
    );
}

#[test]
fn the_running_tail_of_a_job_given_up_on_is_not_an_external_print() {
    let mut t = printing();
    let steps = reports(t.give_up(Outcome::Failed("emergency stop".into())));
    assert_eq!(steps, finished(Outcome::Failed("emergency stop".into())));
    assert!(reports(t.observe(snap("printing", Some(PATH), Some(0.5)))).is_empty());
    t.observe(snap("standby", None, None));
    assert!(
        matches!(
            reports(t.observe(snap("printing", Some(PATH), None))).as_slice(),
            [DriverReport::External { .. }]
        ),
        "printed again by hand later, it is someone else's print"
    );
}

#[test]
fn an_ended_job_deletes_its_file_when_configured_once_klipper_no_longer_prints_it() {
    let mut t = printing_deleting(true);
    let steps = t.observe(snap("complete", Some(PATH), None));
    assert!(!steps.contains(&Step::Delete { path: PATH.into() }));
    let steps = t.observe(snap("complete", Some(PATH), None));
    assert_eq!(steps, vec![Step::Delete { path: PATH.into() }]);
    let mut t = Tracker::new(true);
    t.uploading(JOB, PATH.into());
    t.give_up(Outcome::Cancelled);
    let steps = t.observe(fresh("standby", None));
    assert!(
        !steps.iter().any(|s| matches!(s, Step::Delete { .. })),
        "never uploaded: {steps:?}"
    );
}

#[test]
fn a_refused_delete_is_asked_again_when_idle_until_the_tries_are_spent() {
    let mut t = printing_deleting(true);
    t.observe(snap("complete", Some(PATH), None));
    let delete = Step::Delete { path: PATH.into() };
    let idle = || snap("complete", Some(PATH), None);
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
