//! The link as a host driver reports it: up, down, someone else's print, out of reach while
//! a job is tracked (the job stays), a fault, or monitor-only — each report sent once, when
//! it changes; temperatures likewise.

use crate::domain::Temperatures;
use crate::printer::ExternalPrint;
use crate::printer::driver::DriverReport;

/// What the link to the printer behind its host amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The host talks to the printer.
    Up,
    /// The host (or its printer) cannot be asked (yet); a print may still be running.
    Down(String),
    /// The host reports a printer state that needs a person.
    Fault(String),
}

/// The last link and temperature reports sent.
#[derive(Debug, Default)]
pub struct Shown {
    link: Option<DriverReport>,
    temperatures: Option<Temperatures>,
}

impl Shown {
    /// `temperatures` as a report, when they differ from the last ones sent.
    pub fn temperatures(&mut self, temperatures: Option<Temperatures>) -> Option<DriverReport> {
        let temps = temperatures.filter(|t| self.temperatures.as_ref() != Some(t))?;
        self.temperatures = Some(temps.clone());
        Some(DriverReport::Temperatures(temps))
    }

    /// The report for `link`, when it differs from the last one sent. Up, the printer is
    /// busy with `external`, or else monitor-only for `refusal`; down, a `tracking` job
    /// stays on it (`Unreachable`), else it is `Disconnected`.
    pub fn link(
        &mut self,
        link: &LinkState,
        external: Option<&ExternalPrint>,
        tracking: bool,
        refusal: Option<&str>,
    ) -> Option<DriverReport> {
        let wanted = match (link, external, refusal) {
            (LinkState::Up, Some(print), _) => DriverReport::External {
                file: print.file.clone(),
                progress: print.progress,
            },
            (LinkState::Up, None, Some(reason)) => DriverReport::MonitorOnly {
                reason: reason.to_owned(),
            },
            (LinkState::Up, None, None) => DriverReport::Connected,
            (LinkState::Down(reason), _, _) if tracking => DriverReport::Unreachable {
                reason: reason.clone(),
            },
            (LinkState::Down(reason), _, _) => DriverReport::Disconnected {
                reason: reason.clone(),
            },
            (LinkState::Fault(message), _, _) => DriverReport::Fault {
                message: message.clone(),
            },
        };
        if self.link.as_ref() == Some(&wanted) {
            return None;
        }
        self.link = Some(wanted.clone());
        Some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_report_is_sent_once_and_a_tracked_job_makes_down_unreachable() {
        let mut shown = Shown::default();
        let down = LinkState::Down("gone".into());
        let reason = "gone".to_owned();
        assert_eq!(
            shown.link(&down, None, true, None),
            Some(DriverReport::Unreachable {
                reason: reason.clone()
            })
        );
        assert_eq!(shown.link(&down, None, true, None), None);
        assert_eq!(
            shown.link(&down, None, false, None),
            Some(DriverReport::Disconnected { reason })
        );
        let benchy = ExternalPrint {
            file: "benchy.gcode".into(),
            progress: None,
        };
        let up = LinkState::Up;
        let external = shown.link(&up, Some(&benchy), false, Some("refused"));
        assert!(matches!(external, Some(DriverReport::External { .. })));
        let monitor = shown.link(&up, None, false, Some("refused"));
        assert!(matches!(monitor, Some(DriverReport::MonitorOnly { .. })));
        assert_eq!(
            shown.link(&up, None, true, None),
            Some(DriverReport::Connected)
        );
    }

    #[test]
    fn temperatures_are_reported_when_they_change() {
        let mut shown = Shown::default();
        let temps = Temperatures::default();
        assert!(shown.temperatures(Some(temps.clone())).is_some());
        assert!(shown.temperatures(Some(temps)).is_none());
        assert!(shown.temperatures(None).is_none());
    }
}
