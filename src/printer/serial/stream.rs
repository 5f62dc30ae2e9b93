//! What the port thread does with a job: feed its lines into the session while the window
//! wants more, run the pause/resume/cancel scripts at the right moments, and decide when the
//! job is over. Pure of I/O except reading the job file; the port thread performs the
//! session's actions.

use std::collections::VecDeque;
use std::path::Path;

use super::job::JobFile;
use super::journal::Journal;
use super::protocol::{Action, Session, SessionError};
use crate::domain::{JobId, LayerStart, Percent, ResumePoint};
use crate::printer::driver::Outcome;
use crate::printer::safety::Safety;

/// The scripts a printer runs around pauses and cancels (config `[printers.serial]`).
#[derive(Debug, Clone, Default)]
pub struct Scripts {
    pub pause: Vec<String>,
    pub resume: Vec<String>,
    pub cancel: Vec<String>,
}

enum Phase {
    Running,
    /// Pause asked: wait for the lines in flight, then run the pause script.
    Pausing,
    Paused,
    /// Ending early (cancel, refused line, file error): the cancel script is queued; the
    /// job ends with `outcome` once the printer has processed it.
    Ending(Outcome),
}

/// A job on the printer.
pub struct ActiveJob {
    pub id: JobId,
    file: JobFile,
    phase: Phase,
    shown: Percent,
    /// What a resume after a crash needs, from the lines the firmware confirmed.
    journal: Journal,
    /// A resumed job's prologue, sent (through the safety check) before the file.
    prologue: VecDeque<String>,
}

/// What the port thread should tell the actor after a step.
#[derive(Debug, PartialEq)]
pub enum JobNews {
    Progress(Percent),
    Paused,
    Finished(Outcome),
}

impl ActiveJob {
    pub fn open(id: JobId, path: &Path) -> std::io::Result<ActiveJob> {
        Ok(ActiveJob {
            id,
            file: JobFile::open(path)?,
            phase: Phase::Running,
            shown: Percent::ZERO,
            journal: Journal::new(),
            prologue: VecDeque::new(),
        })
    }

    /// A job resumed after a crash: `prologue`, then the file from the start of `layer`.
    pub fn resumed(
        id: JobId,
        path: &Path,
        layer: &LayerStart,
        prologue: Vec<String>,
    ) -> std::io::Result<ActiveJob> {
        Ok(ActiveJob {
            id,
            file: JobFile::open_at(path, layer.offset)?,
            phase: Phase::Running,
            shown: Percent::ZERO,
            journal: Journal::resumed(layer),
            prologue: prologue.into(),
        })
    }

    /// The resume point to journal now, if one is due (`None` most of the time).
    pub fn journal_due(&mut self, now: u64) -> Option<ResumePoint> {
        self.journal.due(now)
    }

    /// The resume point as it is now (the link is being lost).
    pub fn journal_now(&self) -> Option<ResumePoint> {
        self.journal.now()
    }

    pub fn pause(&mut self) {
        if matches!(self.phase, Phase::Running) {
            self.phase = Phase::Pausing;
        }
    }

    /// Runs the resume script and continues at the exact next line.
    pub fn resume(
        &mut self,
        session: &mut Session,
        scripts: &Scripts,
        now: u64,
        out: &mut Vec<Action>,
    ) -> bool {
        if !matches!(self.phase, Phase::Paused) {
            return false;
        }
        push_script(session, &scripts.resume, now, out);
        self.phase = Phase::Running;
        true
    }

    /// Stops feeding and ends the job with `outcome` after the cancel script.
    pub fn end(
        &mut self,
        outcome: Outcome,
        session: &mut Session,
        scripts: &Scripts,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        if matches!(self.phase, Phase::Ending(_)) {
            return;
        }
        push_script(session, &scripts.cancel, now, out);
        self.phase = Phase::Ending(outcome);
    }

    pub fn acked(&mut self, line: u32) {
        self.file.acked(line);
        self.journal.acked(line);
    }

    /// Feeds lines while the session wants more; returns news for the actor.
    pub fn step(
        &mut self,
        session: &mut Session,
        safety: &Safety,
        scripts: &Scripts,
        now: u64,
        out: &mut Vec<Action>,
    ) -> Option<JobNews> {
        match &self.phase {
            Phase::Running => {
                if let Err(reason) = self.feed(session, safety, now, out) {
                    self.end(Outcome::Failed(reason), session, scripts, now, out);
                    return None;
                }
                if self.file.is_done() && session.is_idle() {
                    return Some(JobNews::Finished(Outcome::Completed));
                }
                let progress = self.file.progress();
                (progress != self.shown).then(|| {
                    self.shown = progress;
                    JobNews::Progress(progress)
                })
            }
            Phase::Pausing if session.is_idle() => {
                push_script(session, &scripts.pause, now, out);
                self.phase = Phase::Paused;
                Some(JobNews::Paused)
            }
            Phase::Ending(outcome) if session.is_idle() => Some(JobNews::Finished(outcome.clone())),
            Phase::Pausing | Phase::Paused | Phase::Ending(_) => None,
        }
    }

    fn feed(
        &mut self,
        session: &mut Session,
        safety: &Safety,
        now: u64,
        out: &mut Vec<Action>,
    ) -> Result<(), String> {
        while session.wants_more() {
            if let Some(line) = self.prologue.pop_front() {
                safety
                    .check(&line)
                    .map_err(|refusal| format!("resume prologue refused: {refusal}"))?;
                match session.push_line(&line, now) {
                    Ok(pushed) => out.extend(pushed.actions),
                    Err(SessionError::NotReady | SessionError::Halted(_)) => {
                        self.prologue.push_front(line);
                        return Ok(());
                    }
                    Err(e) => return Err(format!("resume line {line:?}: {e}")),
                }
                continue;
            }
            let (line, len) = match self.file.next_line_sized() {
                Ok(Some(sized)) => sized,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("reading the job file: {e}")),
            };
            let code = line.split(';').next().unwrap_or("").trim();
            safety
                .check(code)
                .map_err(|refusal| format!("refused: {refusal}"))?;
            match session.push_line(line, now) {
                Ok(pushed) => {
                    self.journal.sent(pushed.line, line, len);
                    self.file.sent(pushed.line);
                    out.extend(pushed.actions);
                }
                Err(SessionError::NotReady | SessionError::Halted(_)) => return Ok(()),
                Err(e) => return Err(format!("job line {line:?}: {e}")),
            }
        }
        Ok(())
    }
}

/// Queues host-side lines (scripts, M115, M105); a line the session refuses is logged and
/// skipped — a script must never stop a cancel.
pub fn push_script(session: &mut Session, lines: &[String], now: u64, out: &mut Vec<Action>) {
    for line in lines {
        match session.push_line(line, now) {
            Ok(pushed) => out.extend(pushed.actions),
            Err(e) => tracing::warn!(%line, error = %e, "script line not sent"),
        }
    }
}
