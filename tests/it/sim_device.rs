//! The simulated printer behind a pseudo-terminal, talked to through the same `serialport`
//! calls the gateway's serial driver makes, at the stable path the device points at its
//! pseudo-terminal: banner, numbered lines, resends, emergency stop, cable pulled and put
//! back, port closed and reopened, and the baud emulation.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fluxprint_gateway::printer::sim::{Firmware, SimConfig, SimDevice, checksum};
use serialport::TTYPort;

/// Only for failures: a healthy exchange answers in milliseconds.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Every test makes pseudo-terminals and runs a device thread; one at a time keeps them
/// from competing for the two cores and the pty allocator.
static PTY_TESTS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    PTY_TESTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Physics sped up so homing, moves and filament loads finish at once.
fn fast_config() -> SimConfig {
    SimConfig {
        speed_up: 100.0,
        ..SimConfig::default()
    }
}

fn link_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("usb-FluxPrint_Virtual_Printer-if00")
}

fn numbered(n: u32, command: &str) -> String {
    let body = format!("N{n} {command}");
    format!("{body}*{}", checksum(&body))
}

/// The gateway's end of the cable.
struct Host {
    port: TTYPort,
    received: Vec<u8>,
}

impl Host {
    fn open(path: &Path) -> Host {
        let port = serialport::new(path.to_string_lossy(), 115_200)
            .timeout(IO_TIMEOUT)
            .open_native()
            .expect("open the simulated printer's link");
        Host {
            port,
            received: Vec::new(),
        }
    }

    /// Opens the port and reads the boot banner up to `start`.
    fn open_after_boot(path: &Path) -> Host {
        let mut host = Host::open(path);
        host.read_until(|line| line == "start");
        host
    }

    fn send(&mut self, line: &str) {
        self.port
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to the simulated printer");
    }

    fn read_line(&mut self) -> String {
        loop {
            if let Some(end) = self.received.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.received.drain(..=end).collect();
                return String::from_utf8_lossy(&line).trim_end().to_owned();
            }
            let mut buf = [0; 256];
            let n = self
                .port
                .read(&mut buf)
                .expect("read from the simulated printer");
            assert!(n > 0, "the simulated printer hung up");
            self.received.extend_from_slice(&buf[..n]);
        }
    }

    /// Every line up to and including the first one `last` accepts.
    fn read_until(&mut self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line();
            let done = last(&line);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Sends a numbered line and returns its `ok` line.
    fn command(&mut self, n: u32, command: &str) -> String {
        self.send(&numbered(n, command));
        self.read_until(|line| line.starts_with("ok"))
            .pop()
            .unwrap_or_default()
    }
}

/// True when the host's reads fail (an error other than a timeout, or end of file) before 64
/// reads have returned data: what a pulled cable looks like from the host.
fn reads_fail(host: &mut Host) -> bool {
    let mut buf = [0; 256];
    (0..64).any(|_| match host.port.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::TimedOut,
    })
}

#[test]
fn a_host_opening_the_link_sees_the_banner_and_its_numbered_lines_are_accepted() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(fast_config(), link.clone()).unwrap();
    let mut host = Host::open(&link);

    let banner = host.read_until(|line| line.starts_with("echo:SD card"));
    assert_eq!(banner[0], "start");
    assert!(device.host_connected());
    let sent = ["M110 N0", "G28", "G1 X10 Y5 F3000", "M105"];
    for (n, command) in (0..).zip(sent) {
        host.command(n, command);
    }
    assert_eq!(device.accepted_commands(), sent);

    drop(host);
    device.stop();
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "stop removes the link"
    );
}

#[test]
fn a_line_with_a_bad_checksum_is_answered_with_a_resend_of_that_line() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(fast_config(), link.clone()).unwrap();
    let mut host = Host::open_after_boot(&link);
    host.command(0, "M110 N0");

    let good = numbered(1, "G90");
    let (body, _) = good.split_once('*').unwrap();
    host.send(&format!("{body}*{}", checksum(body).wrapping_add(1)));
    let reply = host.read_until(|line| line.starts_with("Resend:"));
    assert_eq!(reply.last().unwrap(), "Resend: 1");
    host.read_until(|line| line == "ok");
    host.command(1, "G90");

    assert_eq!(device.accepted_commands(), ["M110 N0", "G90"]);
}

#[test]
fn m105_reports_temperatures_and_m112_halts_the_printer() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(fast_config(), link.clone()).unwrap();
    let mut host = Host::open_after_boot(&link);
    host.command(0, "M110 N0");
    host.command(1, "M140 S60");

    let report = host.command(2, "M105");
    assert!(report.starts_with("ok T:"), "{report}");
    assert!(report.contains(" B:"), "{report}");
    assert_eq!(device.bed().target_c, 60.0);
    assert!(!device.is_killed());

    host.send("M112");
    host.read_until(|line| line.contains("Printer halted"));
    assert!(device.is_killed());
}

#[test]
fn unplugging_fails_the_hosts_io_and_removes_the_link_and_replugging_serves_the_same_path() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(fast_config(), link.clone()).unwrap();
    let mut host = Host::open_after_boot(&link);
    host.command(0, "M110 N0");
    host.command(1, "G90");

    device.unplug();
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is gone"
    );
    assert!(!device.host_connected());
    assert!(
        reads_fail(&mut host),
        "reads keep returning data after unplug"
    );
    let write = host.port.write_all(b"N2 M105\n");
    assert!(
        write.is_err_and(|e| e.kind() != ErrorKind::TimedOut),
        "writes fail after unplug"
    );
    drop(host);

    device.replug().unwrap();
    let mut host = Host::open_after_boot(&link);
    host.command(0, "M110 N0");
    host.command(1, "G91");
    assert_eq!(
        device.accepted_commands(),
        ["M110 N0", "G90", "M110 N0", "G91"]
    );
}

#[test]
fn a_host_that_closes_and_reopens_the_port_resets_the_board_and_talks_again() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(fast_config(), link.clone()).unwrap();
    let mut host = Host::open_after_boot(&link);
    host.command(0, "M110 N0");
    host.command(1, "G90");
    drop(host);
    assert!(
        device.wait_for_host(false, IO_TIMEOUT),
        "the close went unnoticed"
    );

    let mut host = Host::open_after_boot(&link);
    assert!(device.host_connected());
    host.command(0, "M110 N0");
    host.command(1, "G91");
    assert_eq!(
        device.accepted_commands(),
        ["M110 N0", "G90", "M110 N0", "G91"]
    );
}

#[test]
fn the_reset_button_reboots_the_board_and_a_filament_change_waits_for_the_knob() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(fast_config(), link.clone()).unwrap();
    let mut host = Host::open_after_boot(&link);
    host.command(0, "M110 N0");
    host.send("M112");
    host.read_until(|line| line.contains("Printer halted"));
    assert!(device.is_killed());

    device.reset();
    host.read_until(|line| line == "start");
    assert!(!device.is_killed());
    host.command(0, "M110 N0");
    host.send(&numbered(1, "M600"));
    host.read_until(|line| line.starts_with("echo:Insert filament"));
    device.press_knob();
    host.read_until(|line| line == "ok");
    assert_eq!(device.accepted_commands().last().unwrap(), "M600");
}

#[test]
fn at_wire_speed_a_burst_that_would_overrun_the_receive_buffer_arrives_whole_and_is_charged() {
    let _one = one_at_a_time();
    let config = SimConfig {
        bytes_per_second: Some(1152),
        rx_buffer_bytes: 32,
        bufsize: 1,
        ..fast_config()
    };
    let burst = "M400\n".repeat(30);
    let mut all_at_once = Firmware::new(config.clone()).unwrap();
    let _ = all_at_once.open(0);
    let _ = all_at_once.receive(burst.as_bytes(), 0);
    assert!(
        all_at_once.dropped_bytes() > 0,
        "control: the burst overruns the buffer when it lands at once"
    );

    let dir = tempfile::tempdir().unwrap();
    let link = link_in(&dir);
    let device = SimDevice::plug(config.clone(), link.clone()).unwrap();
    let mut host = Host::open_after_boot(&link);
    host.port.write_all(burst.as_bytes()).unwrap();
    for _ in 0..30 {
        host.read_until(|line| line == "ok");
    }

    assert_eq!(device.dropped_bytes(), 0);
    assert_eq!(device.accepted_commands(), vec!["M400"; 30]);
    let charge = device.wire_charge();
    assert!(
        charge.to_printer_ms >= config.wire_time_ms(burst.len()),
        "{charge:?}"
    );
    assert!(
        charge.to_host_ms >= config.wire_time_ms("ok\n".len() * 30),
        "{charge:?}"
    );
}
