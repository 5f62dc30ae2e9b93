//! Where anonymous memory sits: `/proc/PID/smaps` mapping by mapping, and what changed
//! between two readings (row 4: which mapping grows from job 10 to job 100). A thread's
//! stack is an anonymous read-write mapping right after its guard page (`---p`); a malloc
//! arena other than the main one is a read-write mapping at a multiple of 64 MiB (glibc
//! aligns each such heap to its largest size) followed by the rest of that reservation
//! (`---p`); the main arena is `[heap]`. A large block (its own mapping) that happens to lie
//! just below a thread's guard is an "anonymous mmap", not an arena.

use std::collections::BTreeMap;

/// One mapping: its size, permissions and name, and its resident and anonymous KiB.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub size_kib: u64,
    pub perms: String,
    pub name: String,
    pub rss_kib: u64,
    pub anon_kib: u64,
    /// The mapping before it is a guard (`---p`, no name): a thread stack, or an arena's
    /// reservation when the guard follows instead (see [`Mapping::after_guard`]).
    pub after_guard: bool,
    pub before_guard: bool,
}

/// The mappings of a process, by start address.
pub fn read(pid: u32) -> BTreeMap<u64, Mapping> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut mappings: Vec<(u64, Mapping)> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        {
            let perms = fields.next().unwrap_or_default().to_owned();
            let name = fields.nth(3).unwrap_or_default().to_owned();
            mappings.push((
                start,
                Mapping {
                    size_kib: (end - start) / 1024,
                    perms,
                    name,
                    rss_kib: 0,
                    anon_kib: 0,
                    after_guard: false,
                    before_guard: false,
                },
            ));
            continue;
        }
        let kib = || {
            fields
                .clone()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if let Some((_, m)) = mappings.last_mut() {
            match first {
                "Rss:" => m.rss_kib = kib(),
                "Anonymous:" => m.anon_kib = kib(),
                _ => {}
            }
        }
    }
    let guard = |m: &Mapping| m.perms == "---p" && m.name.is_empty();
    for i in 0..mappings.len() {
        let after = i > 0 && guard(&mappings[i - 1].1);
        let before = mappings.get(i + 1).is_some_and(|(_, m)| guard(m));
        mappings[i].1.after_guard = after;
        mappings[i].1.before_guard = before;
    }
    mappings.into_iter().collect()
}

/// glibc's largest heap of an arena other than the main one (64-bit), to which each such
/// heap's start is aligned.
const ARENA_HEAP_BYTES: u64 = 64 * 1024 * 1024;

/// What the mapping at `start` probably is.
fn kind(start: u64, m: &Mapping) -> &'static str {
    let aligned = start % ARENA_HEAP_BYTES == 0;
    match (m.name.as_str(), m.after_guard, m.before_guard && aligned) {
        ("[heap]", _, _) => "main arena",
        ("", true, _) => "thread stack",
        ("", false, true) => "malloc arena",
        ("", false, false) => "anonymous mmap",
        _ => "file",
    }
}

/// The mappings whose anonymous memory changed by at least `threshold_kib` between `before`
/// and `after` (or that came or went with some), one line each, and the total per kind.
pub fn report(
    before: &BTreeMap<u64, Mapping>,
    after: &BTreeMap<u64, Mapping>,
    threshold_kib: u64,
) -> String {
    let mut lines = Vec::new();
    let mut per_kind: BTreeMap<&str, (i64, u64)> = BTreeMap::new();
    let starts: std::collections::BTreeSet<u64> =
        before.keys().chain(after.keys()).copied().collect();
    for start in starts {
        let (b, a) = (before.get(&start), after.get(&start));
        let anon = |m: Option<&Mapping>| m.map_or(0, |m| m.anon_kib);
        let change = anon(a) as i64 - anon(b) as i64;
        let m = a.or(b).expect("in one of them");
        let class = kind(start, m);
        let entry = per_kind.entry(class).or_default();
        entry.0 += change;
        entry.1 += anon(a);
        if change.unsigned_abs() >= threshold_kib {
            let rss = |m: Option<&Mapping>| m.map_or(0, |m| m.rss_kib);
            lines.push(format!(
                "     {start:012x} {:6} KiB {} {:14} {:24} anonymous {:5} -> {:5} KiB ({change:+}), RSS {:5} -> {:5} KiB",
                m.size_kib,
                m.perms,
                class,
                m.name,
                anon(b),
                anon(a),
                rss(b),
                rss(a),
            ));
        }
    }
    for (kind, (change, total)) in per_kind {
        lines.push(format!(
            "     all {kind:14}: anonymous {total:6} KiB ({change:+})"
        ));
    }
    lines.join("\n")
}
