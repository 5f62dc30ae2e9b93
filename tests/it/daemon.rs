//! The real binary as systemd runs it: READY and STATUS over the notify socket, watchdog
//! pings, and a clean stop on SIGTERM that leaves the database closed (WAL folded back).

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "[gateway]\nid = \"gw-daemon\"\nstate_dir = \"{}\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
             [[printers]]\nid = \"sim\"\ndriver = \"simulated\"\nbuild_volume = [200, 200, 200]\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    file
}

/// Datagrams received until one contains `want` (or the deadline passes).
fn receive_until(socket: &UnixDatagram, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = text.lines().any(|l| l == want);
            seen.push(text);
            if done {
                return seen;
            }
        }
    }
    panic!("never received {want}; got {seen:?}");
}

/// A notify socket in `dir` (read with a short timeout) and `run` of the gateway in `dir`
/// told to notify it, as systemd would.
fn under_notify(dir: &std::path::Path) -> (UnixDatagram, Command) {
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"));
    command
        .args(["run", "--config"])
        .arg(config(dir))
        .env("NOTIFY_SOCKET", &socket_path);
    (socket, command)
}

#[test]
fn under_systemd_it_notifies_ready_pings_the_watchdog_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, mut command) = under_notify(dir.path());
    let mut child = command
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let before_ready = receive_until(&socket, "READY=1");
    let status = receive_until(&socket, "WATCHDOG=1");
    let all: Vec<String> = before_ready.into_iter().chain(status).collect();
    assert!(all.iter().any(|m| m.starts_with("STATUS=")), "{all:?}");
    receive_until(&socket, "WATCHDOG=1"); // it keeps pinging

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    receive_until(&socket, "STOPPING=1");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}");
    let wal = dir.path().join("state").join("gateway.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the WAL was folded back into the database at shutdown"
    );
}

/// The daemon's environment as it was executed (`/proc/PID/environ`), once it said READY.
fn executed_environment(dir: &std::path::Path, tunables: Option<&str>) -> Vec<String> {
    let (socket, mut command) = under_notify(dir);
    command
        .env_remove("WATCHDOG_USEC")
        .env_remove("GLIBC_TUNABLES")
        .stderr(Stdio::null());
    if let Some(tunables) = tunables {
        command.env("GLIBC_TUNABLES", tunables);
    }
    let mut child = command.spawn().unwrap();
    // READY from the PID we started: the restart keeps it (systemd's NotifyAccess=main).
    receive_until(&socket, "READY=1");
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // glibc ends each tunable it reads with a NUL where the `:` was, in place.
    (environ.split(|&b| b == 0))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| v.starts_with("GLIBC_TUNABLES=") || v.starts_with("glibc."))
        .collect()
}

#[test]
fn the_daemon_runs_without_glibcs_thread_caches_unless_the_operator_chose() {
    let dir = tempfile::tempdir().unwrap();
    let tuned = executed_environment(dir.path(), None);
    assert_eq!(
        tuned,
        [
            "GLIBC_TUNABLES=glibc.malloc.tcache_count=0",
            "glibc.pthread.stack_cache_size=0"
        ]
    );
    let beside = executed_environment(dir.path(), Some("glibc.malloc.trim_threshold=131072"));
    assert_eq!(
        beside,
        [
            "GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072",
            "glibc.malloc.tcache_count=0",
            "glibc.pthread.stack_cache_size=0"
        ]
    );
    // The operator's own setting of one is kept; the other is still turned off.
    let own = executed_environment(dir.path(), Some("glibc.malloc.tcache_count=3"));
    assert_eq!(
        own,
        [
            "GLIBC_TUNABLES=glibc.malloc.tcache_count=3",
            "glibc.pthread.stack_cache_size=0"
        ]
    );
    let both = "glibc.pthread.stack_cache_size=8388608:glibc.malloc.tcache_count=3";
    let own = executed_environment(dir.path(), Some(both));
    assert_eq!(
        own,
        [
            "GLIBC_TUNABLES=glibc.pthread.stack_cache_size=8388608",
            "glibc.malloc.tcache_count=3"
        ]
    );
}
