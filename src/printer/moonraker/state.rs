//! Klipper's states, mapped onto the driver's vocabulary. Pure: Klippy's host state (from
//! `printer.info` and the `webhooks` object) says whether the printer can take a job (the
//! link); `print_stats.state` says what the print on it is doing, or how it ended. Mapped
//! like the OctoPrint driver's states: a shutdown or an error needs a person (a fault with
//! Klippy's message), a Klippy that is starting or out of Moonraker's reach is a down link.

use crate::domain::Percent;

/// What the link to the printer behind the host amounts to (shared by the host drivers).
pub use crate::printer::host::{LinkState, Recorded};

/// Klippy's host state; the messages are Klippy's own (`state_message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KlippyState {
    Ready,
    Startup(String),
    /// Stopped by an emergency stop, an MCU error, a thermal fault…: `FIRMWARE_RESTART`
    /// brings it back.
    Shutdown(String),
    /// Klippy could not start (a config or MCU connection error).
    Error(String),
    /// Moonraker has no connection to Klippy (it is restarting, or stopped).
    Disconnected,
    Unknown(String),
}

/// `print_stats.state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// No file loaded (after a restart, or `SDCARD_RESET_FILE`).
    Standby,
    Printing,
    Paused,
    Complete,
    Cancelled,
    /// The print stopped on an error in its file (`print_stats.message` says which).
    Error,
    Unknown(String),
}

impl KlippyState {
    /// From `state` and `state_message`, as `printer.info` and `webhooks` report them.
    pub fn parse(state: &str, message: &str) -> KlippyState {
        let message = first_line(message);
        match state {
            "ready" => KlippyState::Ready,
            "startup" => KlippyState::Startup(message),
            "shutdown" => KlippyState::Shutdown(message),
            "error" => KlippyState::Error(message),
            "disconnected" => KlippyState::Disconnected,
            other => KlippyState::Unknown(other.to_owned()),
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, KlippyState::Ready)
    }

    pub fn link(&self) -> LinkState {
        let fault = |message: &str, fallback: &str| {
            let text = if message.is_empty() {
                fallback
            } else {
                message
            };
            LinkState::Fault(format!("Klipper: {text}"))
        };
        match self {
            KlippyState::Ready => LinkState::Up,
            KlippyState::Startup(_) => LinkState::Down("Klipper is starting".into()),
            KlippyState::Shutdown(message) => fault(message, "Klippy shut down"),
            KlippyState::Error(message) => fault(message, "Klippy reports an error"),
            KlippyState::Disconnected => {
                LinkState::Down("Moonraker is not connected to Klipper".into())
            }
            KlippyState::Unknown(state) => {
                LinkState::Down(format!("Klipper reports an unknown state {state:?}"))
            }
        }
    }
}

impl JobState {
    pub fn parse(state: &str) -> JobState {
        match state {
            "standby" => JobState::Standby,
            "printing" => JobState::Printing,
            "paused" => JobState::Paused,
            "complete" => JobState::Complete,
            "cancelled" => JobState::Cancelled,
            "error" => JobState::Error,
            other => JobState::Unknown(other.to_owned()),
        }
    }

    /// A print is on the printer (printing or paused): its file is in use.
    pub fn is_running(&self) -> bool {
        matches!(self, JobState::Printing | JobState::Paused)
    }
}

impl Recorded {
    /// How Moonraker's history recorded a print: `server.history.list`, a job's `status`.
    pub fn parse(status: &str) -> Recorded {
        match status {
            "completed" => Recorded::Completed,
            "cancelled" => Recorded::Cancelled,
            "error" => Recorded::Failed("Klipper stopped the print on an error".into()),
            "klippy_shutdown" => Recorded::Failed("Klipper shut down during the print".into()),
            "klippy_disconnect" => {
                Recorded::Interrupted("Klippy disconnected during the print".into())
            }
            "server_exit" | "interrupted" => Recorded::Interrupted(
                "Moonraker stopped during the print and has no record of how it ended".into(),
            ),
            "in_progress" => Recorded::Unknown,
            other => Recorded::Interrupted(format!("Moonraker recorded the print as {other:?}")),
        }
    }
}

/// `virtual_sdcard.progress` (a fraction of the file) as an integer percent. A running
/// print never shows 100 %: only its end says it is complete.
pub fn progress_percent(fraction: Option<f64>) -> Option<Percent> {
    let value = fraction.filter(|f| f.is_finite())? * 100.0;
    Some(Percent::new(value.clamp(0.0, 99.0).floor() as u8))
}

/// Klippy's messages run over lines (a first line saying what happened, then advice on
/// `FIRMWARE_RESTART`); the first is what a person needs on a printer's card.
pub fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHUTDOWN: &str = "Shutdown due to M112 command\nOnce the underlying issue is \
        corrected, use the\n\"FIRMWARE_RESTART\" command to reset the firmware, reload the\n\
        config, and restart the host software.\nPrinter is shutdown\n";

    #[test]
    fn every_klippy_state_maps_to_its_link() {
        let table: &[(&str, &str, &str)] = &[
            ("ready", "Printer is ready", "up"),
            ("startup", "Printer is not ready", "down"),
            ("shutdown", SHUTDOWN, "fault"),
            ("error", "mcu 'mcu': Unable to connect", "fault"),
            ("disconnected", "", "down"),
            ("sleeping", "", "down"),
        ];
        for (state, message, link) in table {
            let kind = match KlippyState::parse(state, message).link() {
                LinkState::Up => "up",
                LinkState::Down(_) => "down",
                LinkState::Fault(_) => "fault",
            };
            assert_eq!(kind, *link, "{state}");
        }
    }

    #[test]
    fn a_shutdown_is_a_fault_with_the_first_line_of_klippys_message() {
        assert_eq!(
            KlippyState::parse("shutdown", SHUTDOWN).link(),
            LinkState::Fault("Klipper: Shutdown due to M112 command".into())
        );
        assert_eq!(
            KlippyState::parse("error", "").link(),
            LinkState::Fault("Klipper: Klippy reports an error".into())
        );
    }

    #[test]
    fn print_stats_states_parse_and_only_printing_and_paused_hold_the_file() {
        for (text, running) in [
            ("standby", false),
            ("printing", true),
            ("paused", true),
            ("complete", false),
            ("cancelled", false),
            ("error", false),
        ] {
            let state = JobState::parse(text);
            assert!(!matches!(state, JobState::Unknown(_)), "{text}");
            assert_eq!(state.is_running(), running, "{text}");
        }
        assert_eq!(
            JobState::parse("resuming"),
            JobState::Unknown("resuming".into())
        );
    }

    #[test]
    fn history_statuses_become_outcomes() {
        assert_eq!(Recorded::parse("completed"), Recorded::Completed);
        assert_eq!(Recorded::parse("cancelled"), Recorded::Cancelled);
        assert!(matches!(Recorded::parse("error"), Recorded::Failed(_)));
        assert!(matches!(
            Recorded::parse("klippy_shutdown"),
            Recorded::Failed(_)
        ));
        for interrupted in ["klippy_disconnect", "server_exit", "interrupted", "odd"] {
            assert!(
                matches!(Recorded::parse(interrupted), Recorded::Interrupted(_)),
                "{interrupted}"
            );
        }
        assert_eq!(Recorded::parse("in_progress"), Recorded::Unknown);
    }

    #[test]
    fn progress_is_the_integer_percent_of_the_fraction_and_below_100_while_running() {
        assert_eq!(progress_percent(None), None);
        assert_eq!(progress_percent(Some(f64::NAN)), None);
        assert_eq!(progress_percent(Some(-0.1)), Some(Percent::ZERO));
        assert_eq!(progress_percent(Some(0.4299)), Some(Percent::new(42)));
        assert_eq!(progress_percent(Some(1.0)), Some(Percent::new(99)));
    }
}
