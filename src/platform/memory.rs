//! The C allocator's settings for a small device (issue #14).
//!
//! glibc's malloc gives a thread that finds the arenas in use an arena of its own, up to
//! eight per core, and keeps each arena's high-water mark: with the runtime's workers, the
//! blocking pool (SQLite, file I/O, the G-code analysis) and the serial threads, the gateway
//! ended up with a handful of half-empty arenas whose memory grew with every job. Two arenas
//! halved that growth; with the thread caches below off, one arena keeps 0.15 MiB less
//! anonymous memory than two from the first print on (`benches/footprint` rows 3 and 4:
//! free space in the second arena that the first could have reused; BENCHMARKS.md
//! "Footprint"). The cost: threads allocating at the same moment wait for the one lock,
//! which the gateway, a few allocations per event, does not notice (a 100 MiB upload, its
//! analysis on two more threads, took as long). An operator's `MALLOC_ARENA_MAX` wins.
//!
//! glibc also keeps what was freed inside its heaps: after a burst (a hundred cloud jobs) the
//! process kept its high-water mark, about 1 MiB more than before with no more live data
//! (heaptrack). The daemon hands free memory back every [`GIVE_BACK_EVERY`].
//!
//! What `malloc_trim` could not hand back (`benches/footprint` reads `/proc/PID/smaps`: the
//! second arena and `[heap]` grew by 0.9 MiB from job 10 to job 100, thread stacks did not):
//! glibc raises its mmap threshold to the size of each large block freed, so after the first
//! job the per-job blocks of 128 KiB and more (the analysis's 256 KiB read buffer, an
//! upload's write buffer) came from the heaps, and the small long-lived blocks allocated
//! between them pinned the pages. A fixed threshold ([`MMAP_THRESHOLD`], glibc's own
//! starting value) keeps those blocks in mappings of their own, unmapped when freed: 0.3 MiB
//! less at job 100 (two runs each). The rest of that growth was the thread caches below and
//! small messages kept by long-lived channels, then the serial resend history filling line
//! by line (now allocated whole with the connection); what is left, +16 to +24 KiB in the
//! first 30 or so jobs and flat after, is a dozen small buffers reaching their high-water
//! marks and free space among live blocks (BENCHMARKS.md "Footprint").

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often memory the allocator holds free goes back to the kernel. `malloc_trim` walks
/// the free lists of a heap of a few MiB in well under a millisecond.
pub const GIVE_BACK_EVERY: Duration = Duration::from_secs(10);

/// Arenas the allocator may create.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: i32 = 1;

/// Blocks of at least this many bytes get a mapping of their own (glibc's default starting
/// value, made fixed: setting it turns off the dynamic raise).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Limits the allocator's arenas and fixes its mmap threshold; call first thing in `main`,
/// before any thread exists. An operator's `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` win.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (variable, parameter, value) in [
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENAS),
        (
            "MALLOC_MMAP_THRESHOLD_",
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD,
        ),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mallopt only changes allocator parameters and is called before any
            // other thread exists, so nothing allocates concurrently.
            unsafe {
                libc::mallopt(parameter, value);
            }
        }
    }
}

/// glibc's tunables the daemon sets to 0, each unless the operator set it: the per-thread
/// caches of freed small blocks, and the cache of exited threads' stacks.
const TUNABLES_OFF: [&str; 2] = [
    "glibc.malloc.tcache_count",
    "glibc.pthread.stack_cache_size",
];
/// Set (to the operator's own `GLIBC_TUNABLES`, possibly empty) in the environment of the
/// daemon re-executed by [`without_thread_caches`].
const ORIGINAL_TUNABLES: &str = "FLUXPRINT_ORIGINAL_GLIBC_TUNABLES";

/// Turns off two of glibc's caches the daemon pays for in memory that grows with jobs:
///
/// - the per-thread caches of freed blocks (tcache). Every thread that frees small blocks
///   keeps up to 7 of each size for itself, where neither another thread nor `malloc_trim`
///   can reach them; with the runtime's workers, the blocking pool and the serial threads
///   that was 0.8 MiB of anonymous memory after 100 cloud jobs, and it kept growing
///   (`benches/footprint`, BENCHMARKS.md "Footprint").
/// - the cache of exited threads' stacks (up to 40 MiB of them). Each job's analysis runs on
///   threads of its own and the blocking pool's idle threads leave after 10 s, so stacks were
///   cached and reused by threads doing other work, each keeping the deepest call any of its
///   users made resident: thread stacks grew by 128 KiB from job 10 to job 300, and held
///   176 KiB more than the live threads' own. Without the cache an exited thread's stack is
///   unmapped; a new thread maps a fresh one (a few microseconds, a handful per job).
///
/// glibc reads these settings only from `GLIBC_TUNABLES` when a program starts, so the daemon
/// executes itself again once, at the very start (before any thread, same PID, same
/// arguments), with the missing ones added as `=0`. The re-executed daemon puts the
/// operator's `GLIBC_TUNABLES` back, so child processes (PrusaSlicer) keep glibc's defaults.
/// An operator's own setting of either wins; if the execution fails the daemon runs on with
/// the caches (and says so in the log, returned here).
pub fn without_thread_caches() -> Option<String> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        if let Some(original) = std::env::var_os(ORIGINAL_TUNABLES) {
            // SAFETY: called first thing in `main`, before any other thread exists, so no
            // one reads the environment concurrently.
            unsafe {
                std::env::remove_var(ORIGINAL_TUNABLES);
                if original.is_empty() {
                    std::env::remove_var("GLIBC_TUNABLES");
                } else {
                    std::env::set_var("GLIBC_TUNABLES", original);
                }
            }
            return None;
        }
        let original = match std::env::var_os("GLIBC_TUNABLES").map(|v| v.into_string()) {
            None => String::new(),
            Some(Ok(tunables)) => tunables,
            // Not text: the operator's setting, left exactly as it is.
            Some(Err(_)) => return None,
        };
        let tunables = tunables_without_caches(&original)?;
        let mut args = std::env::args_os();
        let program = args.next().unwrap_or_default();
        let error = std::process::Command::new("/proc/self/exe")
            .arg0(program)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .env(ORIGINAL_TUNABLES, &original)
            .exec();
        Some(format!(
            "could not restart without glibc's thread caches: {error}"
        ))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// `GLIBC_TUNABLES` with the caches of [`TUNABLES_OFF`] off, from the operator's `original`;
/// `None` when the operator already chose a setting for each.
fn tunables_without_caches(original: &str) -> Option<String> {
    let chosen = |tunable: &str| {
        (original.split(':')).any(|t| t.split_once('=').is_some_and(|(name, _)| name == tunable))
    };
    let mut tunables: Vec<String> = (!original.is_empty())
        .then(|| original.to_owned())
        .into_iter()
        .collect();
    let before = tunables.len();
    tunables.extend(
        (TUNABLES_OFF.iter())
            .filter(|t| !chosen(t))
            .map(|t| format!("{t}=0")),
    );
    (tunables.len() > before).then(|| tunables.join(":"))
}

/// Hands free memory back to the kernel every [`GIVE_BACK_EVERY`] until `shutdown`.
pub async fn give_back_freed(shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(GIVE_BACK_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => trim(),
        }
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it takes the arenas' locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caches_are_turned_off_beside_the_operators_tunables() {
        let off = "glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0";
        assert_eq!(tunables_without_caches("").as_deref(), Some(off));
        assert_eq!(
            tunables_without_caches("glibc.malloc.check=3").as_deref(),
            Some(format!("glibc.malloc.check=3:{off}").as_str())
        );
    }

    #[test]
    fn an_operators_own_setting_of_each_wins() {
        assert_eq!(
            tunables_without_caches("glibc.malloc.tcache_count=7").as_deref(),
            Some("glibc.malloc.tcache_count=7:glibc.pthread.stack_cache_size=0")
        );
        assert_eq!(
            tunables_without_caches("glibc.pthread.stack_cache_size=4194304").as_deref(),
            Some("glibc.pthread.stack_cache_size=4194304:glibc.malloc.tcache_count=0")
        );
        for own in [
            "glibc.pthread.stack_cache_size=0:glibc.malloc.tcache_count=2",
            "glibc.malloc.check=3:glibc.malloc.tcache_count=2:glibc.pthread.stack_cache_size=9",
        ] {
            assert_eq!(tunables_without_caches(own), None, "{own}");
        }
    }

    #[test]
    fn a_tunable_is_chosen_only_by_its_whole_name() {
        assert_eq!(
            tunables_without_caches("glibc.malloc.tcache_count_x=1").as_deref(),
            Some(
                "glibc.malloc.tcache_count_x=1:glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0"
            )
        );
    }
}
