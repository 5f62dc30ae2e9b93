//! What the serial driver journals while a job prints: every job line the firmware confirms
//! goes through a `gcode::resume::Tracker` (lines sent but not yet confirmed wait here), and
//! a [`ResumePoint`] is due for the journal at each layer change and at least every
//! `JOURNAL_EVERY_MS` while lines are confirmed — never per line, so a 300 lines/s print
//! costs a few small writes a minute, not 300 fsyncs a second.

use std::collections::VecDeque;

use crate::domain::{LayerStart, ResumePoint};
use crate::gcode::resume::Tracker;

/// The longest a confirmed line goes unjournaled (the most a resume can lose is the layer
/// anyway; this bounds how stale the journal's Z and confirmed line are).
pub const JOURNAL_EVERY_MS: u64 = 5_000;

/// A job's journal as it prints.
pub struct Journal {
    tracker: Tracker,
    /// File lines sent and not yet confirmed, in order: the protocol line number (`None`:
    /// a comment or blank line, which takes none), the text and its length in the file.
    waiting: VecDeque<(Option<u32>, String, u64)>,
    /// When the last point was handed out, and its layers.
    written_at: Option<u64>,
    written: Option<(u32, u32, u64)>,
}

impl Journal {
    /// A job from the start of its file.
    pub fn new() -> Journal {
        Journal::with(Tracker::new())
    }

    /// A job resumed at the start of `layer`.
    pub fn resumed(layer: &LayerStart) -> Journal {
        Journal::with(Tracker::at(
            layer.line,
            layer.offset,
            layer.state,
            Some(*layer),
        ))
    }

    fn with(tracker: Tracker) -> Journal {
        Journal {
            tracker,
            waiting: VecDeque::new(),
            written_at: None,
            written: None,
        }
    }

    /// A file line (without its line break, `len` bytes in the file) was sent as `number`.
    pub fn sent(&mut self, number: Option<u32>, text: &str, len: u64) {
        if number.is_none() && self.waiting.is_empty() {
            self.tracker.feed(text, len);
        } else {
            self.waiting.push_back((number, text.to_owned(), len));
        }
    }

    /// The firmware confirmed every line up to protocol line `number`.
    pub fn acked(&mut self, number: u32) {
        while let Some((n, _, _)) = self.waiting.front() {
            if n.is_some_and(|n| n > number) {
                break;
            }
            if let Some((_, text, len)) = self.waiting.pop_front() {
                self.tracker.feed(&text, len);
            }
        }
    }

    /// The point to journal now, if one is due: the resume layer or the confirmed line's
    /// layer changed, or `JOURNAL_EVERY_MS` passed with new lines confirmed.
    pub fn due(&mut self, now: u64) -> Option<ResumePoint> {
        let point = self.tracker.point()?;
        let key = (
            point.layer.number,
            point.confirmed_layer,
            point.confirmed_line,
        );
        let changed_layer = self
            .written
            .is_none_or(|(l, c, _)| (l, c) != (key.0, key.1));
        let stale = self.written.is_some_and(|(_, _, line)| line != key.2)
            && self
                .written_at
                .is_none_or(|at| now >= at + JOURNAL_EVERY_MS);
        (changed_layer || stale).then(|| {
            self.written = Some(key);
            self.written_at = Some(now);
            point
        })
    }

    /// The point as it is now, due or not (when the link is lost).
    pub fn now(&self) -> Option<ResumePoint> {
        self.tracker.point()
    }
}

impl Default for Journal {
    fn default() -> Journal {
        Journal::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(journal: &mut Journal, lines: &[&str], first: u32) -> u32 {
        let mut n = first;
        for line in lines {
            let number = (!line.starts_with(';')).then(|| {
                n += 1;
                n
            });
            journal.sent(number, line, line.len() as u64 + 1);
        }
        n
    }

    #[test]
    fn only_confirmed_lines_count_and_points_come_at_layer_changes_or_every_few_seconds() {
        let mut journal = Journal::new();
        let last = send(
            &mut journal,
            &["G28", ";LAYER_CHANGE", "G1 Z0.2", "G1 X1 E1", "G1 X2 E2"],
            0,
        );
        assert_eq!(journal.due(0), None, "nothing confirmed yet");
        journal.acked(1);
        // The marker after G28 needs no confirmation: the first layer starts with G28's `ok`.
        let point = journal.due(10).expect("the first layer started");
        assert_eq!(
            (point.confirmed_line, point.layer.number, point.layer.line),
            (1, 1, 1)
        );
        journal.acked(2);
        assert_eq!(journal.due(15), None, "same layer, too soon");
        journal.acked(last);
        assert_eq!(journal.due(20), None, "same layer, too soon");
        let point = journal.due(20 + JOURNAL_EVERY_MS).expect("stale");
        assert_eq!(point.confirmed_line, 4);
        assert_eq!(journal.due(30 + 2 * JOURNAL_EVERY_MS), None, "nothing new");
        send(&mut journal, &[";LAYER_CHANGE", "G1 Z0.4"], last);
        journal.acked(last + 1);
        let point = journal.due(40 + 2 * JOURNAL_EVERY_MS).expect("a new layer");
        assert_eq!(point.confirmed_layer, 2);
        assert_eq!(
            point.layer.number, 1,
            "within the planner depth of its start"
        );
    }
}
