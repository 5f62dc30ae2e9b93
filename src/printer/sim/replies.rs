//! Fixed texts each firmware flavour prints: the boot banner, the `M115` report with its
//! `Cap:` lines, and the messages of a halt.

use super::thermal::HeaterId;
use crate::config::FirmwareFlavor;

/// Why the printer halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// The host sent `M112`.
    EmergencyStop,
    /// Injected with `thermal_runaway_at_line`.
    ThermalRunaway(HeaterId),
    /// A heater crossed its MAXTEMP.
    MaxTemp(HeaterId),
}

/// Lines printed after a reset, `start` first.
pub(super) fn boot_banner(flavor: FirmwareFlavor) -> &'static [&'static str] {
    match flavor {
        FirmwareFlavor::Marlin => &[
            "start",
            "echo:Marlin 2.1.2",
            "echo: Last Updated: 2022-12-22 | Author: (none, default config)",
            "echo:Compiled: Jan  1 2023",
            "echo: Free Memory: 2519  PlannerBufferBytes: 1152",
            "echo:V86 stored settings retrieved (672 bytes; crc 39528)",
            "echo:SD card ok",
        ],
        FirmwareFlavor::Prusa => &[
            "start",
            "echo: 3.13.3-7094",
            "echo: Last Updated: Feb 12 2024 14:00:00 | Author: (none, default config)",
            "echo: Free Memory: 1859  PlannerBufferBytes: 1392",
            "echo:Stored settings retrieved",
            "echo:SD card ok",
        ],
        // Klipper's pseudo-terminal is served by the host process; nothing reboots on open.
        FirmwareFlavor::Klipper => &[],
    }
}

/// The `M115` report. Marlin and Prusa print these lines and then `ok`; Klipper prints
/// its single line after `ok ` (see [`m115_is_ok_suffix`]).
pub(super) fn firmware_report(flavor: FirmwareFlavor) -> &'static [&'static str] {
    match flavor {
        FirmwareFlavor::Marlin => &[
            "FIRMWARE_NAME:Marlin 2.1.2 (Jan  1 2023 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:FluxPrint Virtual Printer EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff",
            "Cap:SERIAL_XON_XOFF:0",
            "Cap:BINARY_FILE_TRANSFER:0",
            "Cap:EEPROM:1",
            "Cap:VOLUMETRIC:1",
            "Cap:AUTOREPORT_POS:0",
            "Cap:AUTOREPORT_TEMP:1",
            "Cap:PROGRESS:0",
            "Cap:PRINT_JOB:1",
            "Cap:AUTOLEVEL:0",
            "Cap:RUNOUT:0",
            "Cap:Z_PROBE:0",
            "Cap:LEVELING_DATA:0",
            "Cap:BUILD_PERCENT:0",
            "Cap:SOFTWARE_POWER:0",
            "Cap:TOGGLE_LIGHTS:0",
            "Cap:CASE_LIGHT_BRIGHTNESS:0",
            "Cap:EMERGENCY_PARSER:1",
            "Cap:HOST_ACTION_COMMANDS:0",
            "Cap:PROMPT_SUPPORT:0",
            "Cap:SDCARD:1",
            "Cap:REPEAT:0",
            "Cap:SD_WRITE:1",
            "Cap:AUTOREPORT_SD_STATUS:0",
            "Cap:LONG_FILENAME:0",
            "Cap:THERMAL_PROTECTION:1",
            "Cap:MOTION_MODES:0",
            "Cap:ARCS:1",
            "Cap:BABYSTEPPING:0",
            "Cap:CHAMBER_TEMPERATURE:0",
            "Cap:COOLER_TEMPERATURE:0",
            "Cap:MEATPACK:0",
        ],
        FirmwareFlavor::Prusa => &[
            "FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1 UUID:00000000-0000-0000-0000-000000000000",
            "Cap:AUTOREPORT_TEMP:1",
            "Cap:AUTOREPORT_FANS:1",
            "Cap:AUTOREPORT_POSITION:1",
            "Cap:EXTENDED_M20:1",
            "Cap:PRUSA_MMU2:1",
        ],
        FirmwareFlavor::Klipper => &["FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-sim"],
    }
}

/// Klipper answers `M115` as `ok FIRMWARE_NAME:…` rather than report lines plus `ok`.
pub(super) fn m115_is_ok_suffix(flavor: FirmwareFlavor) -> bool {
    flavor == FirmwareFlavor::Klipper
}

/// The lines a halt prints.
pub(super) fn kill_lines(flavor: FirmwareFlavor, reason: KillReason) -> Vec<String> {
    if flavor == FirmwareFlavor::Klipper {
        let why = match reason {
            KillReason::EmergencyStop => "Shutdown due to M112 command".to_owned(),
            KillReason::ThermalRunaway(_) => {
                "Heater extruder not heating at expected rate".to_owned()
            }
            KillReason::MaxTemp(_) => "ADC out of range".to_owned(),
        };
        return vec![format!("!! {why}")];
    }
    let mut lines = Vec::with_capacity(2);
    match reason {
        KillReason::EmergencyStop => {}
        KillReason::ThermalRunaway(id) => lines.push(format!(
            "Error:Thermal Runaway, system stopped! Heater_ID: {}",
            id.marlin_id()
        )),
        KillReason::MaxTemp(id) => lines.push(format!(
            "Error:MAXTEMP triggered, system stopped! Heater_ID: {}",
            id.marlin_id()
        )),
    }
    lines.push("Error:Printer halted. kill() called!".to_owned());
    lines
}
