//! The simulated printer as a device: a [`Firmware`] plugged into a pseudo-terminal and run
//! by its own thread (`sim-<link name>`), reachable through a symlink at a stable path the
//! way a real board is reachable through `/dev/serial/by-id/…`. The gateway's serial driver
//! opens that path with `serialport` like any port, so the real port thread, protocol and
//! streamer are exercised. [`SimDevice::unplug`] pulls the cable (the host's I/O fails, the
//! path vanishes), [`SimDevice::replug`] plugs a fresh pseudo-terminal in at the same path.
//!
//! Reset on open: a pseudo-terminal has no DTR line, so the device treats "a host opened the
//! slave side" as the DTR pulse. With no host attached, reads of the master side fail (EIO,
//! hang-up); the first probe that no longer fails is a host that has just opened the port,
//! and the firmware gets [`Firmware::open`] (a reboot and `start` when `reset_on_open`).
//! Probes run every 20 ms while nobody is attached. A host that closes and reopens before
//! the device has seen the close (a window of microseconds) gets no reset, like a board
//! whose DTR pulse was too short; [`SimDevice::wait_for_host`] lets tests avoid that. Plugging
//! in (and replugging) powers the board on with [`Firmware::reset`]; nobody hears that banner.
//! [`SimDevice::reset`] is the reset button.
//!
//! Wire speed: with `bytes_per_second` set, `Wire` paces both directions. A pty moves a
//! host's write at once; a UART moves a byte every `1/bytes_per_second`, and the firmware's
//! 128-byte receive buffer is sized for that.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use super::firmware::Firmware;
use super::pty::{Board, DeviceLoop, Request, SharedBoard};
use super::thermal::HeaterState;
use crate::config::{SimConfig, SimConfigError};

/// Requests waiting for the device thread. Every caller waits for its acknowledgement, so
/// only a handful can be in flight; when full, the caller blocks until the thread catches up.
const REQUEST_CAPACITY: usize = 8;

/// `TTYPort::pair` is not documented as thread-safe: on non-Linux targets it calls the
/// non-reentrant `ptsname` (a static buffer), and its descriptors are created without
/// close-on-exec. Every pair in this process is made under this lock, so concurrent
/// devices (tests run in parallel) never interleave inside it.
static PAIR_LOCK: Mutex<()> = Mutex::new(());

/// Makes the temporary symlink names of concurrent devices in one process distinct.
static LINK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why the simulated printer could not be plugged in.
#[derive(Debug, thiserror::Error)]
pub enum SimDeviceError {
    #[error("simulated printer settings: {0}")]
    Config(#[from] SimConfigError),
    #[error("cannot create a pseudo-terminal: {0}")]
    Pty(#[source] serialport::Error),
    #[error("the new pseudo-terminal has no slave device name")]
    PtyName,
    #[error("cannot point {} at the simulated printer: {source}", path.display())]
    Link { path: PathBuf, source: io::Error },
    #[error("cannot start the simulated printer thread: {0}")]
    Spawn(#[source] io::Error),
    #[error("the simulated printer thread has stopped")]
    Stopped,
}

/// Wire time the emulated serial line has charged, per direction, in ms: the sum over
/// bursts of [`SimConfig::wire_time_ms`] of the bytes delivered (0 when unthrottled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCharge {
    pub to_printer_ms: u64,
    pub to_host_ms: u64,
}

/// A simulated printer plugged into a pseudo-terminal at a stable path. Dropping it stops
/// its thread and removes the path.
#[derive(Debug)]
pub struct SimDevice {
    link_path: PathBuf,
    // The thread owns the master side and the loop; this lock exists so that reads of the
    // printer's state answer at once. The thread spends most of its time blocked reading the
    // pseudo-terminal, where no channel message can wake it, so a query through the request
    // channel would wait up to the 50 ms read cap. The thread takes the lock only around
    // firmware calls, never across a read, write or sleep.
    board: SharedBoard,
    requests: SyncSender<Request>,
    thread: Option<JoinHandle<()>>,
}

impl SimDevice {
    /// Boots the printer on a new pseudo-terminal and points `link_path` at its slave side
    /// (replacing whatever is there). The parent directory must exist.
    pub fn plug(config: SimConfig, link_path: PathBuf) -> Result<SimDevice, SimDeviceError> {
        let firmware = Firmware::new(config)?;
        let (master, slave_path) = open_pty()?;
        point_link(&link_path, &slave_path)?;
        let board: SharedBoard = Arc::new((Mutex::new(Board::new(firmware)), Default::default()));
        let (requests, inbox) = mpsc::sync_channel(REQUEST_CAPACITY);
        let device_loop = DeviceLoop::new(Arc::clone(&board), inbox, master);
        let name = link_path.file_name().unwrap_or_default().to_string_lossy();
        let spawned = thread::Builder::new()
            .name(format!("sim-{name}"))
            .spawn(move || device_loop.run());
        let thread = match spawned {
            Ok(thread) => thread,
            Err(source) => {
                remove_link(&link_path);
                return Err(SimDeviceError::Spawn(source));
            }
        };
        Ok(SimDevice {
            link_path,
            board,
            requests,
            thread: Some(thread),
        })
    }

    /// The stable path a host opens.
    pub fn link_path(&self) -> &Path {
        &self.link_path
    }

    /// Pulls the cable: the master side closes (a host's reads and writes fail) and the path
    /// disappears. The firmware keeps its state, frozen, until [`SimDevice::replug`].
    pub fn unplug(&self) {
        // A stopped thread has already dropped the master side; only the link is left.
        let _ = self.ask(Request::Unplug);
        remove_link(&self.link_path);
    }

    /// Plugs the printer back in on a fresh pseudo-terminal at the same path; the board
    /// reboots (power-on), its record of accepted commands survives. Replugging a plugged
    /// device is a quick pull and re-insert.
    pub fn replug(&self) -> Result<(), SimDeviceError> {
        let (master, slave_path) = open_pty()?;
        self.ask(|ack| Request::Plug(master, ack))?;
        point_link(&self.link_path, &slave_path)
    }

    /// Presses the board's reset button: reboot, `start` and boot lines to the host.
    pub fn reset(&self) {
        // A stopped thread has no board left to reset.
        let _ = self.ask(Request::Reset);
    }

    /// Presses the LCD knob: continues an `M600` filament change waiting for the user.
    pub fn press_knob(&self) {
        // A stopped thread has no knob left to press.
        let _ = self.ask(Request::PressKnob);
    }

    /// Every command the firmware accepted, without line numbers or checksums, in order.
    pub fn accepted_commands(&self) -> Vec<String> {
        self.read(|board| {
            board
                .firmware
                .accepted_commands()
                .iter()
                .map(|accepted| accepted.command.clone())
                .collect()
        })
    }

    pub fn hotend(&self) -> HeaterState {
        self.read(|board| board.firmware.hotend())
    }

    pub fn bed(&self) -> HeaterState {
        self.read(|board| board.firmware.bed())
    }

    pub fn is_killed(&self) -> bool {
        self.read(|board| board.firmware.is_killed())
    }

    /// Bytes the firmware lost to a full receive buffer or to the bootloader.
    pub fn dropped_bytes(&self) -> u64 {
        self.read(|board| board.firmware.dropped_bytes())
    }

    /// Wire time charged so far by the baud emulation.
    pub fn wire_charge(&self) -> WireCharge {
        self.read(|board| board.wire)
    }

    /// Whether a host has the port open, as far as the device has noticed.
    pub fn host_connected(&self) -> bool {
        self.read(|board| board.host_connected)
    }

    /// Waits until the device has noticed a host arrive (`true`) or leave (`false`), for at
    /// most `timeout`; returns whether it did. Lets a test close and reopen the port without
    /// racing the device's notice of the close.
    pub fn wait_for_host(&self, connected: bool, timeout: Duration) -> bool {
        let (lock, changed) = &*self.board;
        let deadline = Instant::now() + timeout;
        let mut board = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while board.host_connected != connected {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            board = changed
                .wait_timeout(board, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Stops the thread and removes the path; a panic of the device thread is re-raised here.
    pub fn stop(mut self) {
        if let Err(panic) = self.shut_down() {
            std::panic::resume_unwind(panic);
        }
    }

    fn shut_down(&mut self) -> thread::Result<()> {
        let result = match self.thread.take() {
            Some(thread) => {
                // An error means the thread is already gone; join tells how it ended.
                let _ = self.requests.send(Request::Stop);
                thread.join()
            }
            None => Ok(()),
        };
        remove_link(&self.link_path);
        result
    }

    /// Sends a request and waits until the thread has carried it out.
    fn ask(&self, request: impl FnOnce(SyncSender<()>) -> Request) -> Result<(), SimDeviceError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.requests
            .send(request(ack))
            .map_err(|_| SimDeviceError::Stopped)?;
        done.recv().map_err(|_| SimDeviceError::Stopped)
    }

    fn read<R>(&self, f: impl FnOnce(&Board) -> R) -> R {
        // A panicked device thread leaves the state readable; tests want to see it.
        f(&self.board.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        if self.shut_down().is_err() {
            tracing::error!(link = %self.link_path.display(), "the simulated printer thread panicked");
        }
    }
}

/// A new pseudo-terminal: the master side, with close-on-exec, and the slave's device path.
/// The slave handle is closed at once: the master then reads EIO until a host opens the
/// slave, which is how the device notices hosts arriving and leaving.
fn open_pty() -> Result<(TTYPort, PathBuf), SimDeviceError> {
    let _guard = PAIR_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let (master, slave) = TTYPort::pair().map_err(SimDeviceError::Pty)?;
    let slave_path = slave.name().ok_or(SimDeviceError::PtyName)?;
    // `pair` leaves the master inheritable: a child process forked later would keep it open
    // and a host would never see the cable pulled. The clone is close-on-exec.
    let master_cloexec = master.try_clone_native().map_err(SimDeviceError::Pty)?;
    Ok((master_cloexec, PathBuf::from(slave_path)))
}

/// Points `link_path` at `target` atomically: a new symlink under a temporary name in the same
/// directory, renamed over the old path, so a host never sees the path missing or half-made.
fn point_link(link_path: &Path, target: &Path) -> Result<(), SimDeviceError> {
    let link_error = |source| SimDeviceError::Link {
        path: link_path.to_path_buf(),
        source,
    };
    let file_name = link_path
        .file_name()
        .ok_or_else(|| link_error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let temp = link_path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        LINK_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::os::unix::fs::symlink(target, &temp).map_err(link_error)?;
    std::fs::rename(&temp, link_path).map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        link_error(source)
    })
}

fn remove_link(link_path: &Path) {
    match std::fs::remove_file(link_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(link = %link_path.display(), error = %e, "cannot remove the simulated printer's link")
        }
    }
}

/// How long a write may wait for a host that does not read; the rest of the chunk is lost,
/// as bytes a UART sends to nobody are.
const WRITE_TIMEOUT: Duration = Duration::from_millis(50);

/// What one read of the master side found.
pub(super) enum Reading {
    Bytes(usize),
    Nothing,
    /// EIO or hang-up: no host has the slave side open.
    HostGone,
}

pub(super) fn read_master(master: &mut TTYPort, timeout: Duration, buf: &mut [u8]) -> Reading {
    if master.set_timeout(timeout).is_err() {
        return Reading::Nothing;
    }
    match master.read(buf) {
        Ok(0) => Reading::HostGone,
        Ok(n) => Reading::Bytes(n),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Reading::Nothing
        }
        // serialport reports a hang-up as BrokenPipe and the master's EIO as Other.
        Err(_) => Reading::HostGone,
    }
}

pub(super) fn write_master(master: &mut TTYPort, bytes: &[u8]) -> io::Result<()> {
    master.set_timeout(WRITE_TIMEOUT)?;
    master.write_all(bytes)
}
