//! Command execution: the command at the head of the queue is parsed after the per-line
//! latency, then either finishes at once or waits (for planner room, an empty planner, a
//! dwell, a heater, the user). Its `ok` goes out when it finishes; for a move that is when
//! the move enters the planner, not when it is done, as in Marlin.

use super::firmware::Firmware;
use super::replies::{KillReason, firmware_report, m115_is_ok_suffix};
use super::thermal::HeaterId;
use super::words::Words;

/// Time an `M600` takes to load and purge new filament once resumed, ms at real-time speed.
const FILAMENT_LOAD_MS: f64 = 5000.0;

/// What the command at the head of the queue is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Exec {
    /// Nothing is executing.
    Idle,
    /// The head command is being read; it dispatches at `until`.
    Parsing { until: u64 },
    /// A move waits for a free planner slot.
    AwaitPlanner { duration_ms: u64 },
    /// Waits for every buffered move to finish (`planner.synchronize()`), then `then`.
    Synchronize { then: AfterSync },
    /// A dwell, a homing cycle or a filament load that ends at `until`.
    Timed { until: u64 },
    /// `M109`/`M190`: waits for `heater` to reach `goal` (`cooling_too` for the `R` form).
    Heating {
        heater: HeaterId,
        goal: f64,
        cooling_too: bool,
    },
    /// `M600` waits for the knob or `M108`; resumes on its own at `resume_at` if configured.
    PausedForUser { resume_at: Option<u64> },
}

/// What a command does once the planner is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterSync {
    Finish,
    Wait { ms: u64 },
    PauseForUser,
}

impl Exec {
    /// The keepalive Marlin prints while this state lasts.
    pub(super) fn busy_message(&self) -> Option<&'static str> {
        match self {
            Exec::Idle | Exec::Parsing { .. } => None,
            Exec::PausedForUser { .. } => Some("echo:busy: paused for user"),
            _ => Some("echo:busy: processing"),
        }
    }

    pub(super) fn is_heating(&self) -> bool {
        matches!(self, Exec::Heating { .. })
    }
}

/// Commands the simulator accepts and answers with a plain `ok` (fans, messages, tuning).
fn is_accepted_without_effect(code: (char, u32)) -> bool {
    matches!(
        code,
        ('G', 21)
            | (
                'M',
                17 | 18 | 73 | 75 | 76 | 77 | 84 | 106 | 107 | 108 | 117 | 118
            )
            | ('M', 201 | 203 | 204 | 205 | 220 | 221 | 900 | 999)
            | ('T', 0)
    )
}

impl Firmware {
    /// Moves the head command one step on; true when something changed.
    pub(super) fn step_exec(&mut self) -> bool {
        let now = self.clock;
        self.motion.retire(now);
        match self.exec {
            Exec::Idle if self.queue.is_empty() => false,
            Exec::Idle => {
                self.exec = Exec::Parsing {
                    until: now + self.config.line_latency_ms,
                };
                true
            }
            Exec::Parsing { until } | Exec::Timed { until } if until > now => false,
            Exec::Parsing { .. } => {
                self.dispatch();
                true
            }
            Exec::Timed { .. } => {
                self.finish();
                true
            }
            Exec::AwaitPlanner { duration_ms } => {
                if !self.motion.has_room() {
                    return false;
                }
                self.motion.plan(duration_ms, now);
                self.finish();
                true
            }
            Exec::Synchronize { then } => {
                if self.motion.idle_at().is_some() {
                    return false;
                }
                self.after_sync(then);
                true
            }
            Exec::Heating {
                heater,
                goal,
                cooling_too,
            } => {
                if !self.thermal.heater(heater).reached(goal, cooling_too) {
                    return false;
                }
                self.finish();
                true
            }
            Exec::PausedForUser { resume_at } => {
                if resume_at.is_none_or(|at| at > now) {
                    return false;
                }
                self.resume_from_pause();
                true
            }
        }
    }

    /// When the executing command can next make progress on its own.
    pub(super) fn exec_deadline(&self) -> Option<u64> {
        match self.exec {
            Exec::Idle => None,
            Exec::Parsing { until } | Exec::Timed { until } => Some(until),
            Exec::AwaitPlanner { .. } => self.motion.next_slot_at(),
            Exec::Synchronize { .. } => self.motion.idle_at(),
            Exec::Heating { heater, goal, .. } => self
                .thermal
                .heater(heater)
                .ms_until(goal)
                .map(|ms| self.clock.saturating_add(ms)),
            Exec::PausedForUser { resume_at } => resume_at,
        }
    }

    /// `M108` (or the knob while paused): stop waiting for heaters or the user.
    pub(super) fn cancel_wait(&mut self) {
        match self.exec {
            Exec::Heating { .. } => self.finish(),
            Exec::PausedForUser { .. } => self.resume_from_pause(),
            _ => {}
        }
    }

    pub(super) fn resume_from_pause(&mut self) {
        self.exec = Exec::Timed {
            until: self.clock + self.motion.scaled_ms(FILAMENT_LOAD_MS),
        };
    }

    fn after_sync(&mut self, then: AfterSync) {
        match then {
            AfterSync::Finish => self.finish(),
            AfterSync::Wait { ms } => {
                self.exec = Exec::Timed {
                    until: self.clock + ms,
                }
            }
            AfterSync::PauseForUser => {
                self.emit("echo:Insert filament and send M108");
                self.exec = Exec::PausedForUser {
                    resume_at: self
                        .config
                        .filament_change_auto_resume_ms
                        .map(|ms| self.clock + ms),
                };
            }
        }
    }

    /// Runs the head command now that it has been read.
    fn dispatch(&mut self) {
        let Some(head) = self.queue.front() else {
            self.exec = Exec::Idle;
            return;
        };
        let runaway_line = self.config.thermal_runaway_at_line.map(i64::from);
        if head.line.is_some() && head.line == runaway_line {
            return self.kill(KillReason::ThermalRunaway(HeaterId::Hotend));
        }
        let words = Words::parse(&head.text);
        match words.code() {
            Some(('G', 0 | 1)) => match self.motion.prepare_move(&words) {
                Some(duration_ms) => self.exec = Exec::AwaitPlanner { duration_ms },
                None => self.finish(),
            },
            Some(('G', 4)) => {
                let real_ms = words
                    .value('P')
                    .or_else(|| words.value('S').map(|s| s * 1000.0))
                    .unwrap_or(0.0)
                    .max(0.0);
                let ms = self.motion.scaled_ms(real_ms);
                self.synchronize(AfterSync::Wait { ms });
            }
            Some(('G', 28)) => {
                let ms = self.motion.home(&words);
                self.synchronize(AfterSync::Wait { ms });
            }
            Some(('M', 400)) => self.synchronize(AfterSync::Finish),
            Some(('M', 600)) => self.synchronize(AfterSync::PauseForUser),
            Some(('M', 109)) => self.wait_for_heater(HeaterId::Hotend, &words),
            Some(('M', 190)) => self.wait_for_heater(HeaterId::Bed, &words),
            Some(('M', 105)) => {
                let line = format!("ok{}", self.thermal.report(self.config.firmware_name));
                self.emit(&line);
                self.complete();
            }
            Some(('M', 112)) => self.kill(KillReason::EmergencyStop),
            Some(('M', 115)) => self.report_firmware(),
            Some(code) => {
                self.apply_setting(code, &words);
                self.finish();
            }
            None => self.unknown_command(),
        }
    }

    /// Commands that change a mode or a setting and answer `ok` at once.
    fn apply_setting(&mut self, code: (char, u32), words: &Words) {
        match code {
            ('G', 90) => self.motion.set_relative(false),
            ('G', 91) => self.motion.set_relative(true),
            ('G', 92) => self.motion.set_position(words),
            ('M', 82) => self.motion.set_relative_e(false),
            ('M', 83) => self.motion.set_relative_e(true),
            ('M', 104) => self.set_target(HeaterId::Hotend, words),
            ('M', 140) => self.set_target(HeaterId::Bed, words),
            ('M', 410) => self.motion.quick_stop(),
            ('M', 110) => {
                if let Some(n) = words.value('N') {
                    // Marlin's `set_current_line_number(parser.value_long())` truncates too.
                    self.last_line = n as i64;
                }
            }
            ('M', 113) => {
                if let Some(s) = words.value('S') {
                    self.timers.busy_interval_ms = (s.clamp(0.0, 60.0) * 1000.0) as u64;
                }
            }
            ('M', 155) => {
                let seconds = words.value('S').unwrap_or(0.0).clamp(0.0, 60.0);
                let every = (seconds * 1000.0) as u64;
                self.timers.autoreport = (every > 0).then(|| (every, self.clock + every));
            }
            code if is_accepted_without_effect(code) => {}
            _ => self.unknown_command_message(),
        }
    }

    fn set_target(&mut self, heater: HeaterId, words: &Words) {
        if let Some(target) = words.value('S') {
            self.thermal.heater_mut(heater).set_target(target);
        }
    }

    fn wait_for_heater(&mut self, heater: HeaterId, words: &Words) {
        let (goal, cooling_too) = match (words.value('S'), words.value('R')) {
            (Some(s), _) => (s, false),
            (None, Some(r)) => (r, true),
            (None, None) => return self.finish(),
        };
        self.thermal.heater_mut(heater).set_target(goal);
        self.exec = Exec::Heating {
            heater,
            goal: self.thermal.heater(heater).state().target_c,
            cooling_too,
        };
    }

    fn report_firmware(&mut self) {
        let flavor = self.config.firmware_name;
        if m115_is_ok_suffix(flavor) {
            let line = format!("ok {}", firmware_report(flavor).join(" "));
            self.emit(&line);
            return self.complete();
        }
        for line in firmware_report(flavor) {
            self.emit(line);
        }
        self.finish();
    }

    fn unknown_command(&mut self) {
        self.unknown_command_message();
        self.finish();
    }

    fn unknown_command_message(&mut self) {
        let text = self
            .queue
            .front()
            .map(|c| c.text.clone())
            .unwrap_or_default();
        let line = if self.is_klipper() {
            format!("!! Unknown command:\"{text}\"")
        } else {
            format!("echo:Unknown command: \"{text}\"")
        };
        self.emit(&line);
    }

    fn synchronize(&mut self, then: AfterSync) {
        self.exec = Exec::Synchronize { then };
    }

    /// Sends the `ok` for the head command (unless the fault injection loses it) and frees
    /// its queue slot.
    fn finish(&mut self) {
        let line = self.queue.front().and_then(|c| c.line);
        if !line.is_some_and(|n| self.corruption.loses_ok(n)) {
            let ok = self.ok_line();
            self.emit(&ok);
        }
        self.complete();
    }

    /// Frees the head command's slot without an `ok` (the command printed its own).
    fn complete(&mut self) {
        self.queue.pop_front();
        self.exec = Exec::Idle;
        self.timers.idle_since = self.clock;
    }

    /// `ok`, or with `advanced_ok` Marlin's `ok N<line> P<planner free> B<queue free>`; the
    /// finishing command still holds its slot when this is printed, as in Marlin.
    fn ok_line(&self) -> String {
        if !self.config.advanced_ok {
            return "ok".to_owned();
        }
        let planner_free = self.motion.free_slots();
        let queue_free = self.config.bufsize - self.queue.len();
        match self.queue.front().and_then(|c| c.line) {
            Some(n) => format!("ok N{n} P{planner_free} B{queue_free}"),
            None => format!("ok P{planner_free} B{queue_free}"),
        }
    }
}
