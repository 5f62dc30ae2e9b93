//! Tests of the simulated firmware through its public API, with a small bench that plays
//! host: it sends lines at a simulated time and collects what the printer printed.

mod behaviour;
mod property;
mod protocol;

use super::{Firmware, SimConfig, checksum};

/// A firmware plus the simulated time and everything it printed so far.
pub(super) struct Bench {
    pub(super) fw: Firmware,
    pub(super) now: u64,
}

impl Bench {
    /// Opens the port at time 0; returns the bench and the banner.
    pub(super) fn open(config: SimConfig) -> (Self, String) {
        let mut fw = Firmware::new(config).expect("valid sim config");
        let banner = text(fw.open(0));
        (Self { fw, now: 0 }, banner)
    }

    pub(super) fn quiet(config: SimConfig) -> Self {
        Self::open(config).0
    }

    /// Sends raw text now.
    pub(super) fn send(&mut self, raw: &str) -> String {
        text(self.fw.receive(raw.as_bytes(), self.now))
    }

    /// Sends `N<n> <command>*<checksum>\n` now.
    pub(super) fn send_numbered(&mut self, n: i64, command: &str) -> String {
        self.send(&numbered(n, command))
    }

    /// Lets `ms` pass and returns what was printed meanwhile.
    pub(super) fn wait(&mut self, ms: u64) -> String {
        self.now += ms;
        text(self.fw.poll(self.now))
    }

    /// Lets `ms` pass in steps of `step` ms, returning each step's output.
    pub(super) fn wait_in_steps(&mut self, ms: u64, step: u64) -> Vec<String> {
        (0..ms / step).map(|_| self.wait(step)).collect()
    }

    /// The commands recorded with a line number, in order.
    pub(super) fn numbered_commands(&self) -> Vec<(i64, String)> {
        self.fw
            .accepted_commands()
            .iter()
            .filter_map(|c| c.line.map(|n| (n, c.command.clone())))
            .collect()
    }
}

pub(super) fn numbered(n: i64, command: &str) -> String {
    let body = format!("N{n} {command}");
    format!("{body}*{}\n", checksum(&body))
}

pub(super) fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("the firmware prints ASCII")
}

/// Default config with zero latency and no banner noise unless a test wants it.
pub(super) fn fast_config() -> SimConfig {
    SimConfig {
        line_latency_ms: 0,
        ..SimConfig::default()
    }
}
