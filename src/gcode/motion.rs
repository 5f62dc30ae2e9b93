//! Where the machine's moves are timed. The analysis is two halves of similar cost: reading
//! lines into moves (the reader, `Command`, `Machine`, `Tally`) and timing the moves (the
//! `Planner` and the progress sampler). With a second core the timing runs on a thread of
//! its own ([`Relay`]), fed the moves in batches in the order they were made, so every
//! figure is the same to the bit; on one core both halves run here (issue #14: an upload's
//! analysis must keep up with the upload).

use std::io;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use super::limits::MachineLimits;
use super::line::Command;
use super::planner::{MoveKind, Planner};
use super::progress::ProgressSampler;

/// Moves per batch handed to the planner thread (56 bytes each: a batch stays below glibc's
/// mmap threshold, and one hand-over per thousand moves keeps the threads' waking rare).
/// A batch is a full-length `Vec` written by index: `Vec::push` is not inlined at
/// opt-level "z", and a call per move showed in the profile.
const BATCH: usize = 1024;
/// Full batches waiting for the planner thread; the reader waits when they are all taken.
const QUEUED: usize = 2;

/// How the analysis times its moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// On the thread that reads the lines.
    Here,
    /// On a thread of its own.
    Thread,
}

impl Planning {
    /// A thread of its own when the machine has a second core.
    pub fn for_this_machine() -> Planning {
        match std::thread::available_parallelism() {
            Ok(n) if n.get() >= 2 => Planning::Thread,
            _ => Planning::Here,
        }
    }
}

/// The machine's way to its planner.
#[derive(Debug)]
pub enum Motion {
    Here(Planner),
    Relayed(Relay),
}

impl Motion {
    /// `planning` as asked, or here when the thread cannot be started. `totals` are the
    /// possible file lengths of the progress tables (see `ProgressSampler::new`); a relayed
    /// planner keeps the tables on its thread.
    pub fn start(limits: MachineLimits, totals: &[u64], planning: Planning) -> Motion {
        if planning == Planning::Thread {
            match Relay::start(limits, totals.to_vec()) {
                Ok(relay) => return Motion::Relayed(relay),
                Err(e) => tracing::debug!(error = %e, "the planner thread did not start"),
            }
        }
        Motion::Here(Planner::new(limits))
    }

    #[inline(always)]
    pub fn push(&mut self, delta: [f64; 4], kind: MoveKind, feedrate: f64, tag: u64) {
        match self {
            Motion::Here(planner) => planner.push(delta, kind, feedrate, tag),
            Motion::Relayed(relay) => relay.send(Op::Push {
                delta,
                kind,
                feedrate,
                tag,
            }),
        }
    }

    /// [`Planner::flush`].
    pub fn flush(&mut self) {
        match self {
            Motion::Here(planner) => planner.flush(),
            Motion::Relayed(relay) => relay.send(Op::Flush),
        }
    }

    /// `M201`, `M203`, `M204`, `M205` change the planner's limits; other commands nothing.
    pub fn apply_limits(&mut self, command: &Command) {
        match self {
            Motion::Here(planner) => {
                planner.limits.apply(command);
            }
            Motion::Relayed(relay) => {
                if relay.limits.apply(command) {
                    let limits = Box::new(relay.limits);
                    relay.send(Op::Limits(limits));
                }
            }
        }
    }
}

/// What the planner thread is asked to do, in the order the lines asked it.
#[derive(Debug)]
enum Op {
    Push {
        delta: [f64; 4],
        kind: MoveKind,
        feedrate: f64,
        tag: u64,
    },
    Flush,
    Limits(Box<MachineLimits>),
    /// The machine's dwell total is now `total_s`, booked at the line ending at `offset`.
    Dwell {
        offset: u64,
        total_s: f64,
    },
}

/// The reading side of a planner thread.
#[derive(Debug)]
pub struct Relay {
    /// The reader's copy of the limits, to see when a command changes them.
    limits: MachineLimits,
    batch: Vec<Op>,
    /// Slots of `batch` written.
    filled: usize,
    full: Option<SyncSender<(Vec<Op>, usize)>>,
    empty: Receiver<Vec<Op>>,
    thread: Option<JoinHandle<(Planner, ProgressSampler)>>,
}

impl Relay {
    fn start(limits: MachineLimits, totals: Vec<u64>) -> io::Result<Relay> {
        let (full, batches) = sync_channel(QUEUED);
        let (returned, empty) = channel();
        let thread = std::thread::Builder::new()
            .name("gcode-planner".into())
            .spawn(move || {
                let planner = Planner::new(limits);
                let sampler = ProgressSampler::new(&totals);
                time_moves(planner, sampler, batches, returned)
            })?;
        Ok(Relay {
            limits,
            batch: new_batch(),
            filled: 0,
            full: Some(full),
            empty,
            thread: Some(thread),
        })
    }

    #[inline(always)]
    fn send(&mut self, op: Op) {
        self.batch[self.filled] = op;
        self.filled += 1;
        if self.filled == BATCH {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let next = self.empty.try_recv().unwrap_or_else(|_| new_batch());
        let batch = std::mem::replace(&mut self.batch, next);
        let filled = std::mem::take(&mut self.filled);
        if let Some(full) = &self.full {
            // Err: the thread is gone (it panicked); `finish` says so.
            let _ = full.send((batch, filled));
        }
    }

    /// Books a dwell: the machine's dwell total is `total_s` after the line ending at
    /// `offset` (the planner thread books the difference, as `analysis::Pass` does here).
    pub fn dwell(&mut self, offset: u64, total_s: f64) {
        self.send(Op::Dwell { offset, total_s });
    }

    /// Hands over the last moves, waits until all are timed, and gives back the planner
    /// (flushed) and the progress tables.
    pub fn finish(&mut self) -> io::Result<(Planner, ProgressSampler)> {
        if self.filled > 0 {
            self.hand_over();
        }
        // The thread ends once the batches are read and the sender is gone.
        self.full = None;
        self.thread
            .take()
            .ok_or_else(|| io::Error::other("the planner thread was already finished"))?
            .join()
            .map_err(|_| io::Error::other("the planner thread failed"))
    }
}

fn new_batch() -> Vec<Op> {
    std::iter::repeat_with(|| Op::Flush).take(BATCH).collect()
}

/// The planner thread: every batch in order, then the last blocks.
fn time_moves(
    mut planner: Planner,
    mut sampler: ProgressSampler,
    batches: Receiver<(Vec<Op>, usize)>,
    returned: Sender<Vec<Op>>,
) -> (Planner, ProgressSampler) {
    let mut booked_dwell_s = 0.0;
    for (batch, filled) in batches {
        for op in &batch[..filled] {
            match *op {
                Op::Push {
                    delta,
                    kind,
                    feedrate,
                    tag,
                } => {
                    planner.push(delta, kind, feedrate, tag);
                    book_done(&mut planner, &mut sampler);
                }
                Op::Flush => {
                    planner.flush();
                    book_done(&mut planner, &mut sampler);
                }
                Op::Limits(ref limits) => planner.limits = **limits,
                Op::Dwell { offset, total_s } => {
                    let dwell = total_s - booked_dwell_s;
                    if dwell > 0.0 {
                        sampler.add(offset, dwell);
                        booked_dwell_s = total_s;
                    }
                }
            }
        }
        // Err: the reader is done with batches; this one is simply freed.
        let _ = returned.send(batch);
    }
    planner.flush();
    book_done(&mut planner, &mut sampler);
    (planner, sampler)
}

/// The blocks the planner has finished, into the progress tables (the same order and the
/// same additions as on the reading thread, hence the same figures).
#[inline(always)]
pub fn book_done(planner: &mut Planner, sampler: &mut ProgressSampler) {
    if planner.has_done() {
        for (tag, seconds) in planner.take_done() {
            sampler.add(tag, seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::Path;

    use super::*;
    use crate::gcode::analysis::analyse_lines_planned;
    use crate::gcode::materials::Materials;

    fn fixture(name: &str) -> Vec<u8> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode");
        std::fs::read(dir.join(name)).unwrap()
    }

    /// Everything the relay carries, several batches of it: moves, arcs, firmware
    /// retraction, limits changed mid-file, dwells between moves, flushes.
    fn everything() -> Vec<u8> {
        let mut g = String::from("G21\nG90\nM82\nM201 X1500 Y1500\nM205 X8 Y8\nG28\n");
        for layer in 0..80 {
            let z = 0.2 + f64::from(layer) * 0.2;
            let _ = writeln!(g, "G1 Z{z:.2} F600\nM204 S{}", 500 + layer * 25);
            for i in 0..60 {
                let x = 10.0 + f64::from(i % 17) * 3.5;
                let y = 10.0 + f64::from(i % 13) * 4.25;
                let _ = writeln!(
                    g,
                    "G1 X{x:.3} Y{y:.3} E{:.4} F{}",
                    f64::from(i) * 0.05,
                    1200 + i * 30
                );
            }
            let _ = writeln!(g, "G10\nG2 X40 Y40 I5 J5 E1.5\nG11\nG4 P{}", 150 + layer);
            if layer % 7 == 0 {
                g.push_str("M400\nM109 S210\nG4 S1\n");
            }
        }
        g.into_bytes()
    }

    fn analysed(bytes: &[u8], totals: &[u64], planning: Planning) -> String {
        let limits = MachineLimits::default();
        let read = analyse_lines_planned(bytes, totals, &limits, planning).unwrap();
        let materials = Materials::default();
        format!("{:?}", read.finish(materials.get("PLA").unwrap()))
    }

    #[test]
    fn moves_timed_on_a_thread_of_their_own_give_the_same_figures_to_the_bit() {
        let files = [
            ("everything", everything()),
            ("cylinder.gcode", fixture("cylinder.gcode")),
            ("cube.gcode", fixture("cube.gcode")),
            ("tall.gcode", fixture("tall.gcode")),
            ("thumb.gcode", fixture("thumb.gcode")),
            ("empty", Vec::new()),
        ];
        for (name, bytes) in files {
            let len = bytes.len() as u64;
            // One length (a stored file) and a range of them (an upload).
            for totals in [vec![len], (len..len + 4096).step_by(97).collect()] {
                let here = analysed(&bytes, &totals, Planning::Here);
                let thread = analysed(&bytes, &totals, Planning::Thread);
                assert!(here.starts_with("Some("), "{name}: {here}");
                assert_eq!(thread, here, "{name}, {} lengths", totals.len());
            }
        }
    }

    #[test]
    fn the_synthetic_file_crosses_batches_with_dwells_and_limit_changes() {
        // The comparison above means something only if the relay really carried these.
        let bytes = everything();
        let read = analyse_lines_planned(
            &bytes[..],
            &[bytes.len() as u64],
            &MachineLimits::default(),
            Planning::Thread,
        )
        .unwrap();
        let analysis = read
            .finish(Materials::default().get("PLA").unwrap())
            .unwrap();
        assert!(
            analysis.lines > 3 * BATCH as u64,
            "{} lines",
            analysis.lines
        );
        assert!(
            analysis.dwell_time_s > 40.0 * 0.15,
            "{}",
            analysis.dwell_time_s
        );
        assert_eq!(analysis.heat_waits, 12);
        assert!(analysis.progress.samples().len() > 90);
    }
}
