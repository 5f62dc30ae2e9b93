//! What the benchmarks measure and print besides their own timings: percentiles of samples,
//! and this process's CPU time and resident memory, read from /proc (the benchmarks run on
//! Linux, as the gateway does).
#![allow(dead_code)] // each benchmark uses a different part

use std::time::Duration;

/// The median, the 99th percentile and the largest of `values` (sorted in place); zeros when
/// there are none.
pub fn percentiles(values: &mut [u64]) -> (u64, u64, u64) {
    if values.is_empty() {
        return (0, 0, 0);
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), values[values.len() - 1])
}

/// The median, the 99th percentile and the largest of `samples`, in milliseconds (to the
/// microsecond); zeros when there are none.
pub fn percentiles_ms(samples: &[Duration]) -> (f64, f64, f64) {
    let mut micros: Vec<u64> = samples.iter().map(|d| d.as_micros() as u64).collect();
    let (p50, p99, max) = percentiles(&mut micros);
    (p50 as f64 / 1e3, p99 as f64 / 1e3, max as f64 / 1e3)
}

/// CPU time (user + system) this process has used.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which ends with the last ')'): utime and stime are the
    // 12th and 13th, fields 14 and 15 of the whole line.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// This process's resident set size (`VmRSS`), KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}
