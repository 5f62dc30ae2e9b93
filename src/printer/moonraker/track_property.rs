//! The tracker against random sequences of what Moonraker says, checked against the few
//! rules every sequence must keep.

use proptest::prelude::*;

use super::tests::{JOB, PATH, connected, reports, snap};
use super::*;
use crate::printer::driver::DriverReport;
use crate::printer::moonraker::state::KlippyState;

/// One input to the tracker, for the property test.
#[derive(Debug, Clone)]
enum Input {
    Look {
        klippy: u8,
        job: &'static str,
        file: u8,
        fresh: bool,
    },
    Unreachable,
    Started,
    Resolved(&'static str),
}

fn input() -> impl Strategy<Value = Input> {
    let look = (
        0u8..4,
        prop::sample::select(vec![
            "standby",
            "printing",
            "paused",
            "complete",
            "cancelled",
            "error",
        ]),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(klippy, job, file, fresh)| Input::Look {
            klippy,
            job,
            file,
            fresh,
        });
    prop_oneof![
        6 => look,
        1 => Just(Input::Unreachable),
        1 => Just(Input::Started),
        1 => prop::sample::select(vec!["completed", "cancelled", "klippy_shutdown", "in_progress"])
            .prop_map(Input::Resolved),
    ]
}

fn apply(t: &mut Tracker, input: &Input) -> Vec<Step> {
    match input {
        Input::Look {
            klippy,
            job,
            file,
            fresh,
        } => {
            let klippy_state = match klippy {
                0 | 1 => KlippyState::Ready,
                2 => KlippyState::Disconnected,
                _ => KlippyState::Shutdown("MCU shutdown".into()),
            };
            let file = [None, Some(PATH), Some("benchy.gcode")][*file as usize];
            t.observe(Snapshot {
                klippy: klippy_state,
                // Klippy's state without its objects (a `printer.info` answer).
                whole: *klippy != 1,
                fresh: *fresh,
                ..snap(job, file, Some(0.5))
            })
        }
        Input::Unreachable => t.unreachable("away".into()),
        Input::Started => {
            t.uploaded(JOB);
            t.started(JOB);
            Vec::new()
        }
        Input::Resolved(status) => t.resolved(JOB, Recorded::parse(status)),
    }
}

proptest! {
    /// Whatever Moonraker says in whatever order: the job ends at most once and says
    /// nothing after, is never shown as someone else's print while tracked, never ends
    /// before Klipper accepted it, and no link report repeats the one before it.
    #[test]
    fn the_job_ends_once_and_link_reports_only_change(
        inputs in proptest::collection::vec(input(), 0..60)
    ) {
        let mut t = connected();
        t.uploading(JOB, PATH.into());
        let (mut ended, mut started, mut last_link) = (false, false, None);
        for input in &inputs {
            started |= matches!(input, Input::Started);
            for report in reports(apply(&mut t, input)) {
                match report {
                    DriverReport::Finished { .. } => {
                        prop_assert!(!ended && started, "{input:?}: ended twice or too early");
                        ended = true;
                    }
                    DriverReport::Progress { .. }
                    | DriverReport::Paused { .. }
                    | DriverReport::Resumed { .. } => prop_assert!(!ended, "{input:?}"),
                    DriverReport::Temperatures(_) => {}
                    link => {
                        // A fault drops the job: the actor fails it.
                        ended |= matches!(link, DriverReport::Fault { .. });
                        if matches!(link, DriverReport::External { .. }) {
                            prop_assert!(!t.is_tracking(JOB), "{input:?}: external while tracked");
                        }
                        prop_assert!(last_link.as_ref() != Some(&link), "{input:?}: {link:?} again");
                        last_link = Some(link);
                    }
                }
            }
        }
    }
}
