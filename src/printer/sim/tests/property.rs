//! Model-based property: a host that resends properly gets every line of a file recorded
//! exactly once and in order, whatever the corruption seed, rate, chunking and timing.

use proptest::prelude::*;

use super::{numbered, text};
use crate::printer::sim::{Firmware, SimConfig};

/// A ping-pong host: one line in flight, `Resend: n` rewinds to `n`, the `ok` that follows a
/// resend request acknowledges the error rather than a line.
struct Host {
    file: Vec<String>,
    /// Index into `file` of the line in flight.
    next: usize,
    rewind_pending: bool,
    awaiting_ok: bool,
    partial: String,
}

impl Host {
    fn read(&mut self, bytes: Vec<u8>) {
        self.partial.push_str(&text(bytes));
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            let line = line.trim_end();
            if let Some(n) = line.strip_prefix("Resend: ") {
                let n: usize = n.parse().expect("resend number");
                self.next = n - 1;
                self.rewind_pending = true;
            } else if line.starts_with("ok") {
                if !std::mem::take(&mut self.rewind_pending) {
                    self.next += 1;
                }
                self.awaiting_ok = false;
            }
        }
    }
}

fn file_strategy() -> impl Strategy<Value = Vec<String>> {
    let command = prop_oneof![
        (0u32..200, 0u32..200).prop_map(|(x, y)| format!("G1 X{x} Y{y} F6000")),
        (0u32..50).prop_map(|e| format!("G1 E{e}.5")),
        Just("M105".to_owned()),
        Just("G90".to_owned()),
        (180u32..220).prop_map(|t| format!("M104 S{t}")),
    ];
    prop::collection::vec(command, 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_resending_host_gets_every_line_recorded_once_and_in_order(
        file in file_strategy(),
        seed in any::<u64>(),
        rate in 0.0f64..0.5,
        chunk in 1usize..40,
        latency in 0u64..3,
        bufsize in 1usize..6,
        gap in 0u64..3,
    ) {
        let mut fw = Firmware::new(SimConfig {
            corrupt_every: Some(rate),
            corrupt_seed: seed,
            line_latency_ms: latency,
            bufsize,
            speed_up: 1000.0,
            ..SimConfig::default()
        }).expect("valid config");
        let mut now = 0;
        let banner = fw.open(now);
        prop_assert!(text(banner).starts_with("start\n"));
        let mut host = Host { file: file.clone(), next: 0, rewind_pending: false, awaiting_ok: false, partial: String::new() };
        let mut steps = 0;
        while host.next < host.file.len() {
            let line = numbered(host.next as i64 + 1, &host.file[host.next]);
            host.awaiting_ok = true;
            for piece in line.as_bytes().chunks(chunk) {
                now += gap;
                let out = fw.receive(piece, now);
                host.read(out);
            }
            // Wait for this line's ok, following the firmware's deadlines.
            while host.awaiting_ok {
                steps += 1;
                prop_assert!(steps < 100_000, "no progress");
                let Some(at) = fw.next_deadline() else {
                    prop_assert!(false, "firmware stalled before line {} got its ok", host.next + 1);
                    break;
                };
                now = at;
                let out = fw.poll(now);
                host.read(out);
            }
        }
        let recorded: Vec<(Option<i64>, String)> = fw
            .accepted_commands()
            .iter()
            .map(|c| (c.line, c.command.clone()))
            .collect();
        let expected: Vec<(Option<i64>, String)> = file
            .iter()
            .enumerate()
            .map(|(i, c)| (Some(i as i64 + 1), c.clone()))
            .collect();
        prop_assert_eq!(recorded, expected);
    }
}
