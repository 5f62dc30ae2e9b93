//! Where a `job.submit` run's time goes: per-command timestamps at the stages the bench can
//! see from outside the gateway, and CPU time by thread over the run.
//!
//! Stages, all from the client's publish call: the job's `queued_at` (wall clock, written in
//! the store transaction after the gateway received and dispatched the command) and the
//! reply's arrival. CPU: the bench process's threads by name (tokio workers run the gateway,
//! the test cloud and the file server; `job-store` is the SQLite thread) and mosquitto.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One command's timestamps.
pub struct Marks {
    pub sent: Instant,
    pub sent_wall: SystemTime,
    pub stored: Option<Duration>,
    pub replied: Option<Instant>,
}

impl Marks {
    pub fn now() -> Marks {
        Marks {
            sent: Instant::now(),
            sent_wall: SystemTime::now(),
            stored: None,
            replied: None,
        }
    }

    /// Notes the reply (arrived `at`) and the job's `queued_at` it carries.
    pub fn reply(&mut self, at: Instant, payload: &serde_json::Value) {
        self.replied = Some(at);
        let queued = payload["result"]["queued_at"].as_str();
        let queued = queued.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        if let Some(queued) = queued {
            let queued = SystemTime::from(queued);
            self.stored = queued.duration_since(self.sent_wall).ok();
        }
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn spread(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:.1} ms p99 {:.1} ms ({} samples)",
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        samples.len()
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The stage lines for a run.
pub fn report(
    marks: &HashMap<String, Marks>,
    last_sent: Duration,
    per_topic: &HashMap<String, usize>,
) {
    let stored = marks.values().filter_map(|m| m.stored);
    let stored_to_reply = marks
        .values()
        .filter_map(|m| m.replied?.checked_duration_since(m.sent + m.stored?));
    println!(
        "  stages: last command handed to the client {:.1} ms after the first",
        ms(last_sent)
    );
    println!(
        "  publish -> job row written (queued_at, wall clock): {}",
        spread(stored.collect())
    );
    println!(
        "  job row written -> reply received: {}",
        spread(stored_to_reply.collect())
    );
    let mut topics: Vec<_> = per_topic.iter().collect();
    topics.sort();
    println!("  messages the test cloud received during the run: {topics:?}");
}

/// CPU ticks (1/100 s) by thread group.
#[derive(Default, Clone)]
pub struct Cpu {
    groups: HashMap<String, u64>,
}

/// CPU time so far of this process's threads (grouped by name) and of `broker`.
pub fn cpu(broker: Option<u32>) -> Cpu {
    let mut groups = HashMap::new();
    let tasks = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten();
    for task in tasks {
        if let Some((name, ticks)) = ticks(&task.path().join("stat")) {
            let group = match name.as_str() {
                "tokio-rt-worker" => "tokio workers",
                "job-store" => "job-store",
                _ => "other bench threads",
            };
            *groups.entry(group.to_owned()).or_default() += ticks;
        }
    }
    if let Some((_, ticks)) = broker.and_then(|pid| ticks(format!("/proc/{pid}/stat").as_ref())) {
        groups.insert("mosquitto".to_owned(), ticks);
    }
    Cpu { groups }
}

fn ticks(stat: &std::path::Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(stat).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split(' ').collect();
    // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the name.
    let used = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name, used))
}

impl Cpu {
    /// CPU seconds used since `earlier`, over `wall`, by group.
    pub fn report_since(&self, earlier: &Cpu, wall: Duration) {
        let mut used: Vec<_> = self
            .groups
            .iter()
            .map(|(g, t)| (g.clone(), t - earlier.groups.get(g).copied().unwrap_or(0)))
            .collect();
        used.sort();
        let shown: Vec<String> = used
            .iter()
            .map(|(g, t)| format!("{g} {:.2} s", *t as f64 / 100.0))
            .collect();
        let total: u64 = used.iter().map(|(_, t)| t).sum();
        println!(
            "  CPU over {:.2} s wall: {} (total {:.2} s = {:.2} cores)",
            wall.as_secs_f64(),
            shown.join(", "),
            total as f64 / 100.0,
            total as f64 / 100.0 / wall.as_secs_f64()
        );
    }
}
