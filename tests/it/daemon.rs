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

#[test]
fn under_systemd_it_notifies_ready_pings_the_watchdog_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxprint-gateway"))
        .args(["run", "--config"])
        .arg(config(dir.path()))
        .env("NOTIFY_SOCKET", &socket_path)
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
