//! Test harness shared by the transcript tests: a session and the log of what it asked for.

use super::*;

/// A session plus everything it asked for, split into writes and events.
pub(super) struct Harness {
    pub(super) session: Session,
    pub(super) now: u64,
    pub(super) writes: Vec<String>,
    pub(super) events: Vec<SessionEvent>,
}

impl Harness {
    pub(super) fn new(config: SessionConfig) -> Harness {
        Harness {
            session: Session::new(config),
            now: 0,
            writes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Connected, with the handshake already answered and the log cleared.
    pub(super) fn connected(config: SessionConfig) -> Harness {
        let mut h = Harness::new(config);
        let actions = h.session.connect(h.now);
        h.absorb(actions);
        h.feed("ok");
        assert!(h.session.is_ready());
        h.clear();
        h
    }

    pub(super) fn absorb(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Write(bytes) => self.writes.push(String::from_utf8(bytes).unwrap()),
                Action::Event(event) => self.events.push(event),
            }
        }
    }

    pub(super) fn feed(&mut self, transcript: &str) {
        for line in transcript.lines() {
            let actions = self.session.handle_line(line, self.now);
            self.absorb(actions);
        }
    }

    pub(super) fn push(&mut self, cmd: &str) -> u32 {
        let pushed = self.session.push_line(cmd, self.now).unwrap();
        self.absorb(pushed.actions);
        pushed.line.unwrap()
    }

    pub(super) fn advance(&mut self, ms: u64) {
        self.now += ms;
        let actions = self.session.tick(self.now);
        self.absorb(actions);
    }

    pub(super) fn clear(&mut self) {
        self.writes.clear();
        self.events.clear();
    }

    pub(super) fn acked(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Acked { line } => Some(*line),
                _ => None,
            })
            .collect()
    }

    /// Pushes and acknowledges lines until the next line number is `next`.
    pub(super) fn advance_numbering_to(&mut self, next: u32) {
        while self.session.push_line("G4 P0", self.now).unwrap().line != Some(next - 1) {
            self.feed("ok");
        }
        self.feed("ok");
        self.clear();
    }
}

pub(super) fn wire(number: u32, cmd: &str) -> String {
    String::from_utf8(line::numbered(number, cmd)).unwrap()
}
