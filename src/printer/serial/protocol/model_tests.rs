//! Model-based test: the session against a tiny simulated Marlin that loses and garbles
//! lines, answers with `Error:` + `Resend:` (sometimes twice, sometimes with the extra
//! `ok`, sometimes flushing its receive buffer), over every interleaving proptest finds.
//! Whatever happens, each job line must reach the firmware exactly once and in order.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone, Copy)]
enum Wire {
    Deliver,
    Drop,
    /// Flip one bit of the byte at this position (modulo the line body).
    Garble(usize),
}

/// How the firmware answers one bad line.
#[derive(Debug, Clone, Copy)]
struct ErrorStyle {
    duplicate_resend: bool,
    extra_ok: bool,
    flush_rx: bool,
}

/// The random choices of one run; when a list runs out the link becomes perfect.
#[derive(Debug, Clone)]
struct Script {
    wire: Vec<Wire>,
    errors: Vec<ErrorStyle>,
    /// true: let the firmware read next; false: let the host read next.
    firmware_first: Vec<bool>,
    advanced_ok: bool,
}

/// A Marlin-like firmware: checks line numbers and checksums, executes at once.
struct Firmware {
    last_line: u32,
    accepted: Vec<String>,
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<String>,
    advanced_ok: bool,
}

impl Firmware {
    fn read_line(&mut self, styles: &mut impl Iterator<Item = ErrorStyle>) {
        let Some(bytes) = self.rx.pop_front() else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes).trim_end().to_owned();
        match self.check(&text) {
            Ok((number, cmd)) => {
                self.last_line = number;
                if let Some(n) = cmd.strip_prefix("M110 N") {
                    self.last_line = n.parse().expect("M110 carries a number");
                } else {
                    self.accepted.push(cmd.to_owned());
                }
                self.tx.push_back(match self.advanced_ok {
                    true => format!("ok N{number} P15 B3"),
                    false => "ok".to_owned(),
                });
            }
            Err(message) => self.reject(&message, styles.next().unwrap_or(ErrorStyle::MARLIN)),
        }
    }

    /// Marlin's order: line number first, then checksum.
    fn check<'a>(&self, text: &'a str) -> Result<(u32, &'a str), String> {
        let last = self.last_line;
        let missing = format!("No Line Number with checksum, Last Line: {last}");
        let (body, sum) = text.rsplit_once('*').ok_or_else(|| missing.clone())?;
        let (number, cmd) = body
            .strip_prefix('N')
            .and_then(|b| b.split_once(' '))
            .ok_or(missing)?;
        let number: u32 = number
            .parse()
            .map_err(|_| format!("checksum mismatch, Last Line: {last}"))?;
        if number != last + 1 && !cmd.starts_with("M110") {
            return Err(format!(
                "Line Number is not Last Line Number+1, Last Line: {last}"
            ));
        }
        if sum.parse::<u8>().ok() != Some(line::checksum(body.as_bytes())) {
            return Err(format!("checksum mismatch, Last Line: {last}"));
        }
        Ok((number, cmd))
    }

    fn reject(&mut self, message: &str, style: ErrorStyle) {
        if style.flush_rx {
            self.rx.clear();
        }
        self.tx.push_back(format!("Error:{message}"));
        self.tx.push_back(format!("Resend: {}", self.last_line + 1));
        if style.duplicate_resend {
            self.tx.push_back(format!("Resend: {}", self.last_line + 1));
        }
        if style.extra_ok {
            self.tx.push_back(match self.advanced_ok {
                true => format!("ok N{} P15 B3", self.last_line),
                false => "ok".to_owned(),
            });
        }
    }
}

impl ErrorStyle {
    const MARLIN: ErrorStyle = ErrorStyle {
        duplicate_resend: false,
        extra_ok: true,
        flush_rx: true,
    };
}

/// Runs one job over the faulty link; returns what the firmware executed and the acks.
fn run(job: &[String], flow_control: FlowControl, script: Script) -> (Vec<String>, Vec<u32>) {
    let expected: Vec<String> = job
        .iter()
        .filter_map(|l| line::clean(l).map(str::to_owned))
        .collect();
    let config = SessionConfig {
        flow_control,
        ok_timeout_ms: 3_000,
        handshake_timeout_ms: 2_000,
        ..SessionConfig::default()
    };
    let mut session = Session::new(config);
    let mut firmware = Firmware {
        last_line: 0,
        accepted: Vec::new(),
        rx: VecDeque::new(),
        tx: VecDeque::new(),
        advanced_ok: script.advanced_ok,
    };
    let mut wire = script.wire.into_iter();
    let mut styles = script.errors.into_iter();
    let mut order = script.firmware_first.into_iter();
    let mut acked = Vec::new();
    let mut now = 0;
    let mut next_job = 0;
    let mut actions = session.connect(now);
    for _ in 0..100_000 {
        for action in actions.drain(..) {
            match action {
                Action::Write(bytes) => {
                    transmit(&mut firmware, bytes, wire.next().unwrap_or(Wire::Deliver))
                }
                Action::Event(SessionEvent::Acked { line }) => acked.push(line),
                Action::Event(SessionEvent::Fatal(e)) => panic!("unexpected fatal error {e}"),
                Action::Event(SessionEvent::ProtocolFailed(e)) => panic!("protocol failed: {e}"),
                Action::Event(_) => {}
            }
        }
        assert!(
            expected.starts_with(&firmware.accepted),
            "firmware executed {:?}",
            firmware.accepted
        );
        if session.wants_more() && next_job < job.len() {
            actions = session
                .push_line(&job[next_job], now)
                .expect("session is ready")
                .actions;
            next_job += 1;
            continue;
        }
        let link_idle = firmware.rx.is_empty() && firmware.tx.is_empty();
        if link_idle && next_job == job.len() && session.is_idle() {
            return (firmware.accepted, acked);
        }
        let firmware_reads = match (firmware.rx.is_empty(), firmware.tx.is_empty()) {
            (false, false) => order.next().unwrap_or(true),
            (rx_empty, _) => !rx_empty,
        };
        if firmware_reads {
            firmware.read_line(&mut styles);
        } else if let Some(reply) = firmware.tx.pop_front() {
            actions = session.handle_line(&reply, now);
        } else {
            now += 250;
            actions = session.tick(now);
        }
    }
    panic!(
        "no progress: firmware executed {} of {} lines",
        firmware.accepted.len(),
        job.len()
    );
}

fn transmit(firmware: &mut Firmware, mut bytes: Vec<u8>, fault: Wire) {
    match fault {
        Wire::Deliver => firmware.rx.push_back(bytes),
        Wire::Drop => {}
        Wire::Garble(at) => {
            let body_len = bytes
                .iter()
                .position(|&b| b == b'*')
                .unwrap_or(bytes.len() - 1)
                .max(1);
            bytes[at % body_len] ^= 0x01;
            firmware.rx.push_back(bytes);
        }
    }
}

fn wire_fault() -> impl Strategy<Value = Wire> {
    prop_oneof![6 => Just(Wire::Deliver), 1 => Just(Wire::Drop), 2 => any::<usize>().prop_map(Wire::Garble)]
}

fn error_style() -> impl Strategy<Value = ErrorStyle> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(duplicate_resend, extra_ok, flush_rx)| ErrorStyle {
            duplicate_resend,
            extra_ok,
            flush_rx,
        },
    )
}

fn script() -> impl Strategy<Value = Script> {
    (
        prop::collection::vec(wire_fault(), 0..80),
        prop::collection::vec(error_style(), 0..40),
        prop::collection::vec(any::<bool>(), 0..200),
        any::<bool>(),
    )
        .prop_map(|(wire, errors, firmware_first, advanced_ok)| Script {
            wire,
            errors,
            firmware_first,
            advanced_ok,
        })
}

fn job() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((0u32..1000, 0usize..40), 1..40).prop_map(|lines| {
        lines
            .into_iter()
            .enumerate()
            .map(|(i, (x, pad))| match pad {
                0 => format!("; layer {i}"),
                _ => format!("G1 X{x} Y{i}{} ; move {i}", " E1.5".repeat(pad % 6)),
            })
            .collect()
    })
}

fn flow_control() -> impl Strategy<Value = FlowControl> {
    prop_oneof![
        Just(FlowControl::PingPong),
        Just(FlowControl::MARLIN_WINDOW),
        Just(FlowControl::Windowed {
            rx_buffer_bytes: 255,
            max_in_flight: 8
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_job_line_reaches_the_firmware_exactly_once_and_in_order(
        job in job(),
        flow in flow_control(),
        script in script(),
    ) {
        let expected: Vec<String> = job.iter().filter_map(|l| line::clean(l).map(str::to_owned)).collect();
        let (executed, acked) = run(&job, flow, script);
        prop_assert_eq!(executed, expected.clone());
        let numbers: Vec<u32> = (1..=expected.len() as u32).collect();
        prop_assert_eq!(acked, numbers);
    }
}
