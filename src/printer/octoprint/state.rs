//! OctoPrint's printer states, mapped onto the driver's vocabulary. Pure: the state strings
//! OctoPrint shows (`Offline`, `Printing`, `Offline after error`, …) become an [`OctoState`],
//! which says whether the printer can take a job (the link) and what a print on it is doing
//! (the activity). The tracker in [`track`](super::track) turns these into reports.

use crate::domain::Percent;

/// What the link to the printer behind the host amounts to (shared by the host drivers).
pub use crate::printer::host::LinkState;

/// Every state string OctoPrint 1.x reports (`octoprint.util.comm.getStateString`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OctoState {
    Offline,
    OpeningSerial,
    DetectingSerial,
    Connecting,
    Operational,
    Starting,
    Printing,
    Pausing,
    Paused,
    Resuming,
    Finishing,
    Cancelling,
    /// Printing from, or sending a file to, the printer's SD card: OctoPrint is busy with
    /// something the gateway did not start.
    SdCard,
    Error,
    OfflineAfterError,
    Unknown(String),
}

/// What a print on OctoPrint is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// No print: the printer is idle, offline or in error.
    Idle,
    /// Starting, printing, resuming, finishing or cancelling: the print still runs.
    Running,
    /// Pause requested, the printer still finishing its moves; can take long (a normal state).
    Pausing,
    Paused,
}

impl OctoState {
    /// Parses OctoPrint's state text; older versions append details after `Error: `.
    pub fn parse(text: &str) -> OctoState {
        match text.trim() {
            "Offline" | "Closed" => OctoState::Offline,
            "Opening serial connection" | "Opening serial port" => OctoState::OpeningSerial,
            "Detecting serial connection" | "Detecting serial port" | "Detecting baudrate" => {
                OctoState::DetectingSerial
            }
            "Connecting" => OctoState::Connecting,
            "Operational" => OctoState::Operational,
            "Starting" => OctoState::Starting,
            "Printing" => OctoState::Printing,
            "Pausing" => OctoState::Pausing,
            "Paused" => OctoState::Paused,
            "Resuming" => OctoState::Resuming,
            "Finishing" => OctoState::Finishing,
            "Cancelling" => OctoState::Cancelling,
            "Starting print from SD"
            | "Starting to send file to SD"
            | "Printing from SD"
            | "Sending file to SD"
            | "Transferring file to SD" => OctoState::SdCard,
            "Offline after error" => OctoState::OfflineAfterError,
            other if other == "Error" || other.starts_with("Error:") => OctoState::Error,
            other => OctoState::Unknown(other.to_owned()),
        }
    }

    /// The link this state means; `error` is OctoPrint's error text, when it gave one.
    pub fn link(&self, error: Option<&str>) -> LinkState {
        let fault = |fallback: &str| {
            let detail = error.map(str::trim).filter(|e| !e.is_empty());
            LinkState::Fault(format!("OctoPrint: {}", detail.unwrap_or(fallback)))
        };
        match self {
            OctoState::Offline => {
                LinkState::Down("OctoPrint is not connected to the printer".into())
            }
            OctoState::OpeningSerial | OctoState::DetectingSerial | OctoState::Connecting => {
                LinkState::Down("OctoPrint is connecting to the printer".into())
            }
            OctoState::Operational
            | OctoState::Starting
            | OctoState::Printing
            | OctoState::Pausing
            | OctoState::Paused
            | OctoState::Resuming
            | OctoState::Finishing
            | OctoState::Cancelling => LinkState::Up,
            OctoState::SdCard => {
                LinkState::Down("OctoPrint is busy with the printer's SD card".into())
            }
            OctoState::Error => fault("the printer reported an error"),
            OctoState::OfflineAfterError => fault("the printer went offline after an error"),
            OctoState::Unknown(text) => {
                LinkState::Down(format!("OctoPrint reports an unknown state {text:?}"))
            }
        }
    }

    /// What a print (of OctoPrint's selected file) is doing in this state.
    pub fn activity(&self) -> Activity {
        match self {
            OctoState::Starting
            | OctoState::Printing
            | OctoState::Resuming
            | OctoState::Finishing
            | OctoState::Cancelling => Activity::Running,
            OctoState::Pausing => Activity::Pausing,
            OctoState::Paused => Activity::Paused,
            OctoState::Offline
            | OctoState::OpeningSerial
            | OctoState::DetectingSerial
            | OctoState::Connecting
            | OctoState::Operational
            | OctoState::SdCard
            | OctoState::Error
            | OctoState::OfflineAfterError
            | OctoState::Unknown(_) => Activity::Idle,
        }
    }
}

/// OctoPrint's `progress.completion` (a float percent, `null` before a print) as an integer
/// percent. A running print never shows 100 %: only its end says it is complete.
pub fn progress_percent(completion: Option<f64>) -> Option<Percent> {
    let value = completion.filter(|c| c.is_finite())?;
    Some(Percent::new(value.clamp(0.0, 99.0).floor() as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state string OctoPrint 1.11 produces, with its link and activity.
    const TABLE: &[(&str, &str, Activity)] = &[
        ("Offline", "down", Activity::Idle),
        ("Opening serial connection", "down", Activity::Idle),
        ("Detecting serial connection", "down", Activity::Idle),
        ("Connecting", "down", Activity::Idle),
        ("Operational", "up", Activity::Idle),
        ("Starting", "up", Activity::Running),
        ("Printing", "up", Activity::Running),
        ("Pausing", "up", Activity::Pausing),
        ("Paused", "up", Activity::Paused),
        ("Resuming", "up", Activity::Running),
        ("Finishing", "up", Activity::Running),
        ("Cancelling", "up", Activity::Running),
        ("Starting print from SD", "down", Activity::Idle),
        ("Starting to send file to SD", "down", Activity::Idle),
        ("Printing from SD", "down", Activity::Idle),
        ("Sending file to SD", "down", Activity::Idle),
        ("Transferring file to SD", "down", Activity::Idle),
        ("Error", "fault", Activity::Idle),
        ("Error: MAXTEMP triggered!", "fault", Activity::Idle),
        ("Offline after error", "fault", Activity::Idle),
        ("Unknown State (42)", "down", Activity::Idle),
    ];

    fn kind(link: &LinkState) -> &'static str {
        match link {
            LinkState::Up => "up",
            LinkState::Down(_) => "down",
            LinkState::Fault(_) => "fault",
        }
    }

    #[test]
    fn every_octoprint_state_string_maps_to_its_link_and_activity() {
        for (text, link, activity) in TABLE {
            let state = OctoState::parse(text);
            assert_eq!(kind(&state.link(None)), *link, "link of {text:?}");
            assert_eq!(state.activity(), *activity, "activity of {text:?}");
        }
    }

    #[test]
    fn only_unknown_strings_parse_as_unknown() {
        for (text, ..) in TABLE {
            let unknown = matches!(OctoState::parse(text), OctoState::Unknown(_));
            assert_eq!(unknown, text.starts_with("Unknown"), "{text:?}");
        }
    }

    #[test]
    fn a_fault_carries_octoprints_error_text_or_says_what_state_it_is() {
        assert_eq!(
            OctoState::Error.link(Some("MAXTEMP triggered!")),
            LinkState::Fault("OctoPrint: MAXTEMP triggered!".into())
        );
        assert_eq!(
            OctoState::OfflineAfterError.link(Some("  ")),
            LinkState::Fault("OctoPrint: the printer went offline after an error".into())
        );
    }

    #[test]
    fn an_unknown_state_is_a_down_link_that_names_the_state() {
        let LinkState::Down(reason) = OctoState::parse("Sleeping").link(None) else {
            panic!("expected a down link");
        };
        assert!(reason.contains("\"Sleeping\""), "{reason}");
    }

    #[test]
    fn progress_is_the_integer_part_of_completion_and_below_100_while_running() {
        assert_eq!(progress_percent(None), None);
        assert_eq!(progress_percent(Some(f64::NAN)), None);
        assert_eq!(progress_percent(Some(-3.0)), Some(Percent::ZERO));
        assert_eq!(progress_percent(Some(42.99)), Some(Percent::new(42)));
        assert_eq!(progress_percent(Some(100.0)), Some(Percent::new(99)));
    }
}
