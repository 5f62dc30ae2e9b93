//! The lines of a [`Stream`](super::Stream) kept for `Resend:`, in two rings allocated whole
//! when the connection opens (the history's lines and [`IN_FLIGHT_ROOM`] more still needed,
//! of the longest allowed length) and reused when it reconnects: no allocation per line, and
//! no growth while the first prints fill the history (issue #14: a history grown line by
//! line was half of what the gateway's live heap gained over its first hundred jobs).

use std::collections::VecDeque;

use super::super::event::SessionConfig;
use super::IN_FLIGHT_ROOM;

/// A line kept; its bytes are in [`History::bytes`].
#[derive(Clone, Default)]
pub(super) struct Kept {
    pub(super) number: u32,
    /// Where the line starts among the bytes ever kept (see [`History::base`]).
    at: u64,
    pub(super) len: usize,
    /// A command that may rightly take long without an `ok` (see `liveness`).
    pub(super) long: bool,
}

#[derive(Default)]
pub(super) struct History {
    lines: VecDeque<Kept>,
    /// The bytes of `lines`, back to back.
    bytes: VecDeque<u8>,
    /// The position of `bytes`' first byte among the bytes ever kept.
    base: u64,
    /// Lines kept once they are no longer needed.
    size: usize,
}

/// An empty ring with room for `capacity` items, its memory written once now: a ring's
/// ends travel over all of it in time, so its pages are taken when the connection opens
/// rather than a few at a time over the first prints.
pub(super) fn committed<T: Clone>(capacity: usize, filler: T) -> VecDeque<T> {
    let mut ring = VecDeque::with_capacity(capacity);
    ring.resize(capacity, filler);
    ring.clear();
    ring
}

impl History {
    /// Keeps `config.history_lines`, at least 256.
    pub(super) fn new(config: &SessionConfig) -> History {
        let size = config.history_lines.max(256);
        let lines = size + IN_FLIGHT_ROOM;
        History {
            lines: committed(lines, Kept::default()),
            bytes: committed(lines * config.max_line_bytes, 0),
            base: 0,
            size,
        }
    }

    /// Forgets every line, keeping the allocations.
    pub(super) fn clear(&mut self) {
        self.lines.clear();
        self.bytes.clear();
        self.base = 0;
    }

    /// Keeps line `number` (the one after the last kept).
    pub(super) fn push(&mut self, number: u32, wire: &[u8], long: bool) {
        self.lines.push_back(Kept {
            number,
            at: self.base + self.bytes.len() as u64,
            len: wire.len(),
            long,
        });
        self.bytes.extend(wire);
    }

    /// The oldest line kept.
    pub(super) fn oldest(&self) -> Option<u32> {
        self.lines.front().map(|kept| kept.number)
    }

    /// Line `number`, if kept.
    pub(super) fn get(&self, number: u32) -> Option<&Kept> {
        let index = number.checked_sub(self.oldest()?)?;
        self.lines.get(index as usize)
    }

    /// The bytes of a line [`History::get`] gave.
    pub(super) fn wire(&self, kept: &Kept) -> Vec<u8> {
        // `at` is within `bytes`: a line's bytes leave them only with the line.
        let from = (kept.at - self.base) as usize;
        self.bytes.range(from..from + kept.len).copied().collect()
    }

    /// Drops the oldest lines beyond the history's size, but none from `needed_from` on.
    pub(super) fn trim(&mut self, needed_from: u32) {
        while self.lines.len() > self.size
            && self
                .lines
                .front()
                .is_some_and(|kept| kept.number < needed_from)
        {
            if let Some(kept) = self.lines.pop_front() {
                self.bytes.drain(..kept.len);
                self.base += kept.len as u64;
            }
        }
    }

    /// Whether the history holds all the lines it keeps.
    #[cfg(test)]
    pub(super) fn is_full(&self) -> bool {
        self.lines.len() >= self.size
    }

    /// The rings' capacities: lines, bytes.
    #[cfg(test)]
    pub(super) fn capacities(&self) -> (usize, usize) {
        (self.lines.capacity(), self.bytes.capacity())
    }
}
