//! The wire between host and printer: bytes arrive in order, no faster than the emulated
//! baud rate allows, and after the link's latency.

use std::collections::VecDeque;

use super::SimConfig;

/// One direction of the emulated serial line. Bytes leave in bursts: byte `k` of a burst
/// arrives `wire_time_ms(k)` after the burst began; a burst ends when the line goes idle.
pub(crate) struct Wire {
    config: SimConfig,
    /// Bytes still in the link's latency (`link_latency_ms`): (due time, bytes), in order.
    delayed: VecDeque<(u64, Vec<u8>)>,
    queue: VecDeque<u8>,
    burst_start: u64,
    burst_sent: usize,
    pub(crate) charged_ms: u64,
}

impl Wire {
    pub(crate) fn new(config: SimConfig) -> Self {
        Self {
            config,
            delayed: VecDeque::new(),
            queue: VecDeque::new(),
            burst_start: 0,
            burst_sent: 0,
            charged_ms: 0,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8], now: u64) {
        if bytes.is_empty() {
            return;
        }
        if self.config.link_latency_ms > 0 {
            self.delayed
                .push_back((now + self.config.link_latency_ms, bytes.to_vec()));
            return;
        }
        self.put_on_line(bytes, now);
    }

    /// Moves bytes whose latency has passed onto the line, each at the time it was due.
    fn admit(&mut self, now: u64) {
        while let Some((due, _)) = self.delayed.front()
            && *due <= now
        {
            let (due, bytes) = self.delayed.pop_front().expect("front exists");
            self.put_on_line(&bytes, due);
        }
    }

    fn put_on_line(&mut self, bytes: &[u8], now: u64) {
        if self.queue.is_empty() && self.arrival_of(self.burst_sent) <= now {
            self.burst_start = now;
            self.burst_sent = 0;
        }
        self.queue.extend(bytes);
    }

    /// The next group of bytes that have arrived by `now`, all with the same arrival time.
    pub(crate) fn take_arrived(&mut self, now: u64) -> Option<(u64, Vec<u8>)> {
        self.admit(now);
        let at = self.next_arrival().filter(|at| *at <= now)?;
        let mut count = 1;
        while count < self.queue.len() && self.arrival_of(self.burst_sent + count + 1) == at {
            count += 1;
        }
        let charged_before = self.config.wire_time_ms(self.burst_sent);
        self.burst_sent += count;
        self.charged_ms += self.config.wire_time_ms(self.burst_sent) - charged_before;
        Some((at, self.queue.drain(..count).collect()))
    }

    pub(crate) fn next_arrival(&self) -> Option<u64> {
        let on_line = (!self.queue.is_empty()).then(|| self.arrival_of(self.burst_sent + 1));
        let in_latency = self.delayed.front().map(|(due, _)| *due);
        on_line.into_iter().chain(in_latency).min()
    }

    fn arrival_of(&self, nth_byte: usize) -> u64 {
        self.burst_start + self.config.wire_time_ms(nth_byte)
    }

    pub(crate) fn backlog(&self) -> usize {
        self.queue.len() + self.delayed.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    /// The far end went away: bytes on the line are lost, the line is idle.
    pub(crate) fn clear(&mut self) {
        self.delayed.clear();
        self.queue.clear();
        self.burst_start = 0;
        self.burst_sent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_latency_delays_every_byte_and_keeps_their_order() {
        let config = SimConfig {
            link_latency_ms: 5,
            ..SimConfig::default()
        };
        let mut wire = Wire::new(config);
        wire.push(b"ok\n", 10);
        wire.push(b"ok\n", 11);
        assert_eq!(wire.next_arrival(), Some(15));
        assert_eq!(wire.take_arrived(14), None);
        assert_eq!(wire.take_arrived(15), Some((15, b"ok\n".to_vec())));
        assert_eq!(
            wire.take_arrived(15),
            None,
            "the second reply is still in the link"
        );
        assert_eq!(wire.take_arrived(16), Some((16, b"ok\n".to_vec())));
    }

    #[test]
    fn without_latency_or_baud_limit_bytes_arrive_at_once() {
        let mut wire = Wire::new(SimConfig::default());
        wire.push(b"start\n", 3);
        assert_eq!(wire.take_arrived(3), Some((3, b"start\n".to_vec())));
    }
}
