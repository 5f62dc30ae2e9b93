//! Settings of the simulated printer: buffer sizes, timing model, firmware flavour and the
//! faults to inject, with their checks. Deserializable with defaults so a printer's
//! `simulator` table can carry them; the simulated printer takes them from here.

use serde::Deserialize;

/// Which firmware family the simulator imitates (banner, `M115`, temperature report format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirmwareFlavor {
    /// Marlin 2.1.2 with `EXTENDED_CAPABILITIES_REPORT` and the emergency parser.
    #[default]
    Marlin,
    /// Prusa-Firmware 3.13 (a Marlin 1.x descendant): same line protocol, own `M115`.
    Prusa,
    /// Klipper's pseudo-terminal: no line-number checks, no `busy:` keepalives.
    Klipper,
}

/// Everything that shapes the simulated printer. `Default` is a stock Marlin board at
/// real-time speed with no faults injected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Firmware family to imitate.
    pub firmware_name: FirmwareFlavor,
    /// Reboot (and print `start` plus boot lines) when the port is opened, as AVR boards do.
    pub reset_on_open: bool,
    /// Bootloader time after a reset; bytes received meanwhile are lost.
    pub boot_ms: u64,
    /// Serial receive ring size; bytes beyond it are dropped while the command queue is full.
    pub rx_buffer_bytes: usize,
    /// Command queue slots (Marlin `BUFSIZE`).
    pub bufsize: usize,
    /// Moves the planner can hold (Marlin `BLOCK_BUFFER_SIZE`).
    pub planner_depth: usize,
    /// Reply `ok N<line> P<planner free> B<queue free>` instead of plain `ok`.
    pub advanced_ok: bool,
    /// Wire speed, for the I/O loop that carries bytes (see [`SimConfig::wire_time_ms`]).
    pub bytes_per_second: Option<u32>,
    /// Time the firmware takes to parse and dispatch each command (one at a time).
    pub line_latency_ms: u64,
    /// One-way latency of the link (USB polling, the firmware's serial loop): every byte
    /// arrives this long after it was sent, in order. It is pipelined, so a host that keeps
    /// several lines in flight hides it and one that waits for each `ok` pays it twice a line.
    pub link_latency_ms: u64,
    /// Simulated physics runs this many times faster than real time (moves, heating, dwell).
    pub speed_up: f64,
    /// Hotend heating rate at real-time speed, °C per second (cooling runs at half of it).
    pub hotend_heat_rate_c_per_s: f64,
    /// Bed heating rate at real-time speed, °C per second (cooling runs at half of it).
    pub bed_heat_rate_c_per_s: f64,
    /// Room temperature: where heaters start and cool down to.
    pub ambient_c: f64,
    /// Hotend MAXTEMP: crossing it halts the printer. Targets are not clamped, so a host
    /// that asks for more than this gets the fault.
    pub max_hotend_c: f64,
    /// Bed MAXTEMP, as `max_hotend_c`.
    pub max_bed_c: f64,
    /// `echo:busy:` keepalive period while a command blocks (Marlin `M113`); 0 disables.
    pub busy_interval_ms: u64,
    /// Print `wait` after this long with an empty queue (Marlin `NO_TIMEOUTS`); off by default.
    pub idle_wait_ms: Option<u64>,
    /// Resume an `M600` filament change on its own after this long, as if the knob was pressed.
    pub filament_change_auto_resume_ms: Option<u64>,
    /// Corrupt this fraction (0.0..1.0) of numbered lines as they arrive (checksum mismatch).
    pub corrupt_every: Option<f64>,
    /// Seed of the deterministic generator behind `corrupt_every`.
    pub corrupt_seed: u64,
    /// Corrupt the first arrival of each of these line numbers.
    pub corrupt_lines: Vec<u32>,
    /// Lose the first arrival of each of these line numbers on the wire: the firmware never
    /// sees it, and the next line fails the line-number check (`Line Number is not Last
    /// Line Number+1`).
    pub lose_lines: Vec<u32>,
    /// Lose the `ok` of the first run of each of these line numbers on the wire: the
    /// firmware ran the line, the host never hears so (a stall).
    pub lose_oks: Vec<u32>,
    /// Halt with a thermal runaway when the command on this line number starts executing.
    pub thermal_runaway_at_line: Option<u32>,
    /// Keep every accepted command, for the firmware's `accepted_commands` record. Tests
    /// want it; a long-running demo may turn it off to keep memory flat.
    pub record_commands: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            firmware_name: FirmwareFlavor::Marlin,
            reset_on_open: true,
            boot_ms: 0,
            rx_buffer_bytes: 128,
            bufsize: 4,
            planner_depth: 16,
            advanced_ok: false,
            bytes_per_second: None,
            line_latency_ms: 1,
            link_latency_ms: 0,
            speed_up: 1.0,
            hotend_heat_rate_c_per_s: 2.0,
            bed_heat_rate_c_per_s: 0.5,
            ambient_c: 25.0,
            max_hotend_c: 275.0,
            max_bed_c: 125.0,
            busy_interval_ms: 2000,
            idle_wait_ms: None,
            filament_change_auto_resume_ms: None,
            corrupt_every: None,
            corrupt_seed: 0x5EED,
            corrupt_lines: Vec::new(),
            lose_lines: Vec::new(),
            lose_oks: Vec::new(),
            thermal_runaway_at_line: None,
            record_commands: true,
        }
    }
}

/// A setting that cannot describe a working printer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimConfigError {
    #[error("sim.{key} must be at least {min}, got {value}")]
    TooSmall {
        key: &'static str,
        min: usize,
        value: usize,
    },
    #[error("sim.{key} must be a finite number above 0, got {value}")]
    NotPositive { key: &'static str, value: f64 },
    #[error("sim.corrupt_every must be in 0.0..1.0 so resent lines can get through, got {0}")]
    CorruptRate(f64),
    #[error("sim.{key} ({max} °C) must be above sim.ambient_c ({ambient} °C)")]
    MaxBelowAmbient {
        key: &'static str,
        max: f64,
        ambient: f64,
    },
    #[error("sim.bytes_per_second must be above 0")]
    ZeroWireSpeed,
}

impl SimConfig {
    /// Checks that the settings describe a printer that can make progress.
    pub fn validate(&self) -> Result<(), SimConfigError> {
        at_least("rx_buffer_bytes", self.rx_buffer_bytes, 2)?;
        at_least("bufsize", self.bufsize, 1)?;
        at_least("planner_depth", self.planner_depth, 1)?;
        positive("speed_up", self.speed_up)?;
        positive("hotend_heat_rate_c_per_s", self.hotend_heat_rate_c_per_s)?;
        positive("bed_heat_rate_c_per_s", self.bed_heat_rate_c_per_s)?;
        if let Some(rate) = self.corrupt_every
            && !(0.0..1.0).contains(&rate)
        {
            return Err(SimConfigError::CorruptRate(rate));
        }
        above_ambient("max_hotend_c", self.max_hotend_c, self.ambient_c)?;
        above_ambient("max_bed_c", self.max_bed_c, self.ambient_c)?;
        if self.bytes_per_second == Some(0) {
            return Err(SimConfigError::ZeroWireSpeed);
        }
        Ok(())
    }

    /// Bytes per second a UART moves at `baud` with 8N1 framing (10 bits per byte).
    pub fn bytes_per_second_for_baud(baud: u32) -> u32 {
        (baud / 10).max(1)
    }

    /// Milliseconds `bytes` spend on the wire at `bytes_per_second` (0 when unthrottled),
    /// rounded up. The I/O loop applies it; the state machine itself never waits for it.
    pub fn wire_time_ms(&self, bytes: usize) -> u64 {
        match self.bytes_per_second {
            Some(rate) if rate > 0 => (bytes as u64 * 1000).div_ceil(u64::from(rate)),
            _ => 0,
        }
    }
}

fn at_least(key: &'static str, value: usize, min: usize) -> Result<(), SimConfigError> {
    if value < min {
        return Err(SimConfigError::TooSmall { key, min, value });
    }
    Ok(())
}

fn positive(key: &'static str, value: f64) -> Result<(), SimConfigError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(SimConfigError::NotPositive { key, value });
    }
    Ok(())
}

fn above_ambient(key: &'static str, max: f64, ambient: f64) -> Result<(), SimConfigError> {
    if max.is_nan() || max <= ambient {
        return Err(SimConfigError::MaxBelowAmbient { key, max, ambient });
    }
    Ok(())
}
