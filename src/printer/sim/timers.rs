//! Output that comes from time passing rather than from a command finishing: `busy:`
//! keepalives while a command blocks, heater progress during `M109`/`M190`, `M155`
//! temperature auto-reports, and the optional idle `wait`.

use super::exec::Exec;
use super::firmware::{Firmware, Power};
use crate::config::SimConfig;

/// Marlin prints heater status once a second while `M109`/`M190` wait.
const HEAT_REPORT_MS: u64 = 1000;

/// Periodic output and its schedule.
#[derive(Debug, Clone)]
pub(super) struct Timers {
    pub(super) busy_interval_ms: u64,
    pub(super) busy_next: Option<u64>,
    pub(super) heat_report_next: Option<u64>,
    /// `M155`: (interval, next report).
    pub(super) autoreport: Option<(u64, u64)>,
    /// Last command activity, for the optional idle `wait`.
    pub(super) idle_since: u64,
}

impl Timers {
    pub(super) fn new(config: &SimConfig, now: u64) -> Self {
        Self {
            busy_interval_ms: config.busy_interval_ms,
            busy_next: None,
            heat_report_next: None,
            autoreport: None,
            idle_since: now,
        }
    }
}

impl Firmware {
    pub(super) fn idle_wait_at(&self) -> Option<u64> {
        let wait = self.config.idle_wait_ms?;
        let idle = self.queue.is_empty() && self.rx.is_empty() && matches!(self.exec, Exec::Idle);
        idle.then(|| self.timers.idle_since.saturating_add(wait))
    }

    /// Emits keepalives, heating progress, `M155` reports and `wait` that are due now.
    pub(super) fn fire_timers(&mut self) {
        if self.power != Power::Running {
            return;
        }
        let now = self.clock;
        let interval = self.timers.busy_interval_ms;
        let busy = self
            .exec
            .busy_message()
            .filter(|_| interval > 0 && !self.is_klipper());
        self.timers.busy_next = match (busy, self.timers.busy_next) {
            (None, _) => None,
            (Some(_), None) => Some(now + interval),
            (Some(message), Some(at)) if at <= now => {
                self.emit(message);
                Some(now + interval)
            }
            (Some(_), pending) => pending,
        };
        self.timers.heat_report_next = match (self.exec.is_heating(), self.timers.heat_report_next)
        {
            (false, _) => None,
            (true, None) => Some(now + HEAT_REPORT_MS),
            (true, Some(at)) if at <= now => {
                self.emit_heating_progress();
                Some(now + HEAT_REPORT_MS)
            }
            (true, pending) => pending,
        };
        if let Some((every, at)) = self.timers.autoreport
            && at <= now
        {
            let report = self.thermal.report(self.config.firmware_name);
            self.emit(&report);
            self.timers.autoreport = Some((every, now + every));
        }
        if self.idle_wait_at().is_some_and(|at| at <= now) {
            self.emit("wait");
            self.timers.idle_since = now;
        }
    }

    fn emit_heating_progress(&mut self) {
        let mut line = self.thermal.report(self.config.firmware_name);
        if !self.is_klipper() {
            line.push_str(" W:?");
        }
        self.emit(&line);
    }
}
