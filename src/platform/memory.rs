//! The C allocator's settings for a small device (issue #14).
//!
//! glibc's malloc gives a thread that finds the arenas in use an arena of its own, up to
//! eight per core, and keeps each arena's high-water mark: with the runtime's workers, the
//! blocking pool (SQLite, file I/O, the G-code analysis) and the serial threads, the gateway
//! ended up with a handful of half-empty arenas whose memory grew with every job. Two arenas
//! halve that growth (measured in `benches/footprint`, BENCHMARKS.md "Footprint"). The cost:
//! threads allocating at the same moment may wait for an arena's lock, which the gateway, a
//! few allocations per event, does not notice. An operator's `MALLOC_ARENA_MAX` wins.
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
//! less at job 100 (two runs each), though most of the growth from job 10 to 100 (+0.8 MiB,
//! was +0.9–1.0) is still inside the two arenas, among smaller blocks (BENCHMARKS.md
//! "Footprint").

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often memory the allocator holds free goes back to the kernel. `malloc_trim` walks
/// the free lists of a heap of a few MiB in well under a millisecond.
pub const GIVE_BACK_EVERY: Duration = Duration::from_secs(10);

/// Arenas the allocator may create.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: i32 = 2;

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
