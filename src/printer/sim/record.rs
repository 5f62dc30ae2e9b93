//! What the simulated printer accepted: every command that passed the line checks and
//! entered the command queue, in order, so tests can compare it with the file that was sent.

/// One accepted command, as the firmware queued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedCommand {
    /// The `N<n>` the host gave it, `None` for an un-numbered command.
    pub line: Option<i64>,
    /// The command without line number, checksum or comment (`G1 X10 Y5`).
    pub command: String,
}

/// The log of accepted commands. A numbered line enters only after it is `last + 1`, so a
/// resent duplicate is refused by the line check and can never be recorded twice.
#[derive(Debug, Clone, Default)]
pub(super) struct Record {
    enabled: bool,
    commands: Vec<AcceptedCommand>,
}

impl Record {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            commands: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, line: Option<i64>, command: &str) {
        if self.enabled {
            self.commands.push(AcceptedCommand {
                line,
                command: command.to_owned(),
            });
        }
    }

    pub(super) fn commands(&self) -> &[AcceptedCommand] {
        &self.commands
    }
}
