//! The [`Stream`]'s allocations over many lines and a reconnection.

use super::*;
use crate::printer::serial::protocol::line::numbered;

#[test]
fn the_history_lives_in_the_buffers_allocated_with_the_connection() {
    let config = SessionConfig {
        flow_control: FlowControl::MARLIN_WINDOW,
        ..SessionConfig::default()
    };
    let mut stream = Stream::new(&config);
    let capacities = |s: &Stream| (s.history.capacities(), s.in_flight.capacity());
    let allocated = capacities(&stream);
    let mut out = Vec::new();
    // Lines of the longest allowed length, windowed, several times the history's size;
    // then a reconnection, and again.
    for round in 0..2 {
        for n in 1..=1200u32 {
            let cmd = format!("G1 X{n} E{}", "1".repeat(80));
            let mut wire = numbered(n, &cmd);
            wire.truncate(config.max_line_bytes);
            stream.push(&wire, false, 0, &mut out);
            while !stream.wants_more() {
                stream.on_ok(None, None, 0, &mut out);
            }
        }
        assert!(stream.history.is_full(), "round {round}");
        assert_eq!(capacities(&stream), allocated, "round {round}");
        stream.restart(&config);
        assert_eq!(
            capacities(&stream),
            allocated,
            "restarted after round {round}"
        );
    }
}
