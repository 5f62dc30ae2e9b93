//! When to ask the printer for its whole state (`pushing.pushall`). Once on every connect;
//! then, only while no full status has come (a printer that has just booted may not answer
//! yet, and a P1 sends nothing but deltas until asked), again after 30 s, 1 min, 2 min, 4 min
//! and then every 5 minutes: P1 printers must not be asked often, and without one full
//! status the gateway cannot tell what the printer does. Asking stops at the first full
//! status; a printer that answers is asked once per connection.

use std::time::Duration;

use tokio::time::Instant;

const FIRST_WAIT: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct Pushall {
    /// When to ask again, while no full status has come on this connection.
    next: Option<Instant>,
    wait: Duration,
}

impl Pushall {
    /// Connected: ask now (the caller does) and again after the first wait without answer.
    pub fn asked_on_connect(&mut self, now: Instant) {
        self.wait = FIRST_WAIT;
        self.next = Some(now + FIRST_WAIT);
    }

    /// When the next `pushall` is due, if one is.
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// Asked again (it was due): wait twice as long for the next one.
    pub fn asked_again(&mut self, now: Instant) {
        self.wait = (self.wait * 2).min(LONGEST_WAIT);
        self.next = Some(now + self.wait);
    }

    /// A full status came, or the connection is gone: nothing more to ask on it.
    pub fn settled(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_pushalls_back_off_to_five_minutes_and_stop_once_answered() {
        let start = Instant::now();
        let mut pushall = Pushall::default();
        assert_eq!(pushall.due(), None, "nothing is asked before a connection");
        pushall.asked_on_connect(start);
        assert_eq!(pushall.due(), Some(start + Duration::from_secs(30)));
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..8 {
            now = pushall.due().unwrap();
            pushall.asked_again(now);
            waits.push((pushall.due().unwrap() - now).as_secs());
        }
        assert_eq!(waits, [60, 120, 240, 300, 300, 300, 300, 300]);
        pushall.settled();
        assert_eq!(pushall.due(), None);
        pushall.asked_on_connect(now);
        assert_eq!(
            pushall.due(),
            Some(now + Duration::from_secs(30)),
            "a new connection starts over"
        );
    }
}
