//! Model-based tests: the state machine against a flat reference table written the way the
//! lifecycle diagram reads.

use super::*;
use proptest::prelude::*;

/// The reference model: a state name, the queued sub-state, the progress and the error.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    name: &'static str,
    stage: Option<QueuedStage>,
    progress: u8,
    error: Option<String>,
}

impl Model {
    fn new() -> Model {
        Model {
            name: "queued",
            stage: Some(QueuedStage::Fetching),
            progress: 0,
            error: None,
        }
    }

    /// The diagram as a table: which transition names each state accepts, and where to.
    fn step(&self, t: &Transition) -> Option<Model> {
        let to = |name: &'static str| Model {
            name,
            stage: None,
            progress: self.progress,
            error: None,
        };
        let table: &[(&str, &str, &str)] = &[
            ("queued", "stage", "queued"),
            ("queued", "start", "printing"),
            ("queued", "fail", "failed"),
            ("queued", "cancel", "cancelled"),
            ("printing", "progress", "printing"),
            ("printing", "pause", "paused"),
            ("printing", "complete", "completed"),
            ("printing", "fail", "failed"),
            ("printing", "cancel", "cancelled"),
            ("printing", "interrupt", "interrupted"),
            ("paused", "progress", "paused"),
            ("paused", "resume", "printing"),
            ("paused", "fail", "failed"),
            ("paused", "cancel", "cancelled"),
            ("paused", "interrupt", "interrupted"),
            ("interrupted", "recover", "printing"),
        ];
        let (_, _, target) = table
            .iter()
            .find(|(from, name, _)| *from == self.name && *name == t.name())?;
        let mut next = to(target);
        match t {
            Transition::Stage(stage) => next.stage = Some(*stage),
            Transition::Start if self.stage != Some(QueuedStage::Ready) => return None,
            Transition::Start => next.progress = 0,
            Transition::Progress(p) => next.progress = p.get(),
            Transition::Complete => next.progress = 100,
            Transition::Fail(e) | Transition::Interrupt(e) => {
                next.error = Some(e.clone());
                next.progress = 0;
            }
            Transition::Cancel | Transition::Recover => next.progress = 0,
            _ => {}
        }
        Some(next)
    }

    fn matches(&self, status: &JobStatus) -> bool {
        let stage = match status {
            JobStatus::Queued(stage) => Some(*stage),
            _ => None,
        };
        self.name == status.as_str()
            && self.stage == stage
            && self.progress == status.progress().get()
            && self.error.as_deref() == status.error()
    }
}

fn transition() -> impl Strategy<Value = Transition> {
    prop_oneof![
        prop_oneof![
            Just(QueuedStage::Fetching),
            Just(QueuedStage::Slicing),
            Just(QueuedStage::Ready)
        ]
        .prop_map(Transition::Stage),
        Just(Transition::Start),
        (0u8..=100).prop_map(|p| Transition::Progress(Percent::new(p))),
        Just(Transition::Pause),
        Just(Transition::Resume),
        Just(Transition::Complete),
        "[a-z ]{1,12}".prop_map(Transition::Fail),
        Just(Transition::Cancel),
        "[a-z ]{1,12}".prop_map(Transition::Interrupt),
        Just(Transition::Recover),
    ]
}

proptest! {
    #[test]
    fn the_state_machine_agrees_with_the_reference_table(
        steps in proptest::collection::vec(transition(), 0..40)
    ) {
        let mut model = Model::new();
        let mut status = JobStatus::Queued(QueuedStage::Fetching);
        for t in steps {
            let expected = model.step(&t);
            match (next(&status, t.clone()), expected) {
                (Ok(s), Some(m)) => {
                    prop_assert!(m.matches(&s), "{t:?}: model {m:?}, machine {s:?}");
                    status = s;
                    model = m;
                }
                (Err(_), None) => {}
                (got, want) => prop_assert!(false, "{t:?} from {status:?}: machine {got:?}, model {want:?}"),
            }
        }
    }

    #[test]
    fn final_states_accept_no_transition(t in transition()) {
        for status in [
            JobStatus::Completed,
            JobStatus::Failed { error: "x".into() },
            JobStatus::Cancelled,
            JobStatus::Interrupted { reason: "x".into() },
        ] {
            // The one way out of a final state: an interrupted print recovered from its journal.
            let recovered = matches!(status, JobStatus::Interrupted { .. }) && t == Transition::Recover;
            prop_assert_eq!(next(&status, t.clone()).is_err(), !recovered);
        }
    }
}

#[test]
fn a_job_still_fetching_cannot_start() {
    let err = next(&JobStatus::Queued(QueuedStage::Fetching), Transition::Start).unwrap_err();
    assert_eq!(err.to_string(), "a queued job cannot start");
}

#[test]
fn pause_and_resume_keep_the_progress() {
    let printing = JobStatus::Printing {
        progress: Percent::new(42),
    };
    let paused = next(&printing, Transition::Pause).unwrap();
    assert_eq!(paused.progress().get(), 42);
    assert_eq!(next(&paused, Transition::Resume).unwrap(), printing);
}
